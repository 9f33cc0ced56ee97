-- A revoked or returned physical unit that comes back: bound anew, or media it holds a
-- binding for served at or after the revocation. Revocation belongs to the unit: with a
-- serial, bindings of that serial (under any id), and bindings of the id that record no
-- serial, count against it, so another camera that merely shares the id (under another
-- serial) is left alone; without a serial, the device id is the unit.
WITH revocation AS (
    SELECT
        binding_no AS revoked_binding_no,
        device_id,
        serial,
        coalesce(revoked_at, deregistered_at) AS revoked_time
    FROM binding
    WHERE (status IN ('revoked', 'returned') OR revoked_at IS NOT NULL)
        AND coalesce(revoked_at, deregistered_at) IS NOT NULL
),
revoked_unit_binding AS (
    SELECT
        r.revoked_binding_no,
        r.revoked_time,
        b.*
    FROM revocation AS r
    JOIN binding AS b
        ON b.serial = r.serial
    UNION ALL
    SELECT
        r.revoked_binding_no,
        r.revoked_time,
        b.*
    FROM revocation AS r
    JOIN binding AS b
        ON b.device_id = r.device_id
    -- without a serial the id is the unit; with one, a binding of the id that records no
    -- serial cannot be told apart from it (another serial is another camera)
    WHERE r.serial IS NULL
        OR b.serial IS NULL
),
bound_anew AS (
    SELECT DISTINCT
        device_id,
        account_id,
        bound_from AS event_ts,
        _source_file,
        _source_line,
        serial,
        'bound after revocation' AS event
    FROM revoked_unit_binding
    WHERE binding_no <> revoked_binding_no
        AND bound_from >= revoked_time
),
-- One row per access, however many of the account's bindings tie it to a revoked unit
-- (its serial one and a serial-less one, say): the smallest serial among them is shown.
served_after_revocation AS (
    SELECT
        ca.device_id,
        ca.account_id,
        ca.ts AS event_ts,
        ca._source_file,
        ca._source_line,
        min(u.serial) AS serial,
        ca.action || ' of media captured after revocation' AS event
    FROM customer_access AS ca
    JOIN revoked_unit_binding AS u
        ON u.device_id = ca.device_id
        AND u.account_id = ca.account_id
        AND u.bound_from <= ca.capture_time
        AND ca.capture_time < u.bound_to
    WHERE ca.is_served
        AND ca.capture_time >= u.revoked_time
    GROUP BY ca.access_no, ca.device_id, ca.account_id, ca.ts, ca._source_file,
        ca._source_line, ca.action
)
SELECT * FROM bound_anew
UNION
SELECT * FROM served_after_revocation
