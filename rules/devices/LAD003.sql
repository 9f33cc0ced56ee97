-- A revoked or returned physical unit that comes back: bound anew, or serving media captured
-- at or after its revocation. Revocation belongs to the unit (unit_revocation): bindings of
-- its serial (under any id) count against it, and so do bindings of its device id that
-- nothing tells apart from it; a binding of the id under another serial or another MAC is
-- another camera that merely shares the id, and is left alone.
WITH revoked_unit_binding AS (
    SELECT
        r.revoked_binding_no,
        r.revoked_time,
        b.*
    FROM unit_revocation AS r
    JOIN binding AS b
        ON b.serial = r.serial
    UNION ALL
    SELECT
        r.revoked_binding_no,
        r.revoked_time,
        b.*
    FROM unit_revocation AS r
    JOIN binding AS b
        ON b.device_id = r.device_id
    WHERE (r.serial IS NULL OR b.serial IS NULL)
        AND NOT coalesce(r.mac <> b.mac, false)
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
-- Served accesses to media captured, at or after a revocation, under a device id the unit had
-- been bound as: each with the unit's binding that brought it here.
revoked_unit_access AS (
    SELECT
        ca.access_no,
        ca.device_id,
        ca.account_id,
        ca.ts,
        ca.capture_time,
        ca.action,
        ca._source_file,
        ca._source_line,
        u.revoked_binding_no,
        u.serial,
        u.account_id AS unit_account_id,
        u.bound_from <= ca.capture_time AND ca.capture_time < u.bound_to AS unit_bound_then
    FROM customer_access AS ca
    JOIN revoked_unit_binding AS u
        ON u.device_id = ca.device_id
        AND u.bound_from <= ca.capture_time
    WHERE ca.is_served
        AND ca.capture_time >= u.revoked_time
),
-- The media came from the unit when the recipient held the unit's binding then, or a share
-- of it from the account that did...
through_unit_binding AS (
    SELECT
        x.access_no,
        x.revoked_binding_no
    FROM revoked_unit_access AS x
    WHERE x.unit_bound_then
        AND x.unit_account_id = x.account_id
    UNION ALL
    SELECT
        x.access_no,
        x.revoked_binding_no
    FROM revoked_unit_access AS x
    JOIN shares AS s
        ON s.device_id = x.device_id
        AND s.owner_account_id = x.unit_account_id
        AND s.grantee_account_id = x.account_id
        AND s.granted_at <= x.ts
        AND x.ts < coalesce(s.revoked_at, 'infinity'::TIMESTAMPTZ)
    WHERE x.unit_bound_then
),
-- ... or when no binding of another unit covered the capture time under that id.
other_unit_then AS (
    SELECT DISTINCT
        x.access_no,
        x.revoked_binding_no
    FROM revoked_unit_access AS x
    JOIN binding AS b
        ON b.device_id = x.device_id
        AND b.bound_from <= x.capture_time
        AND x.capture_time < b.bound_to
    LEFT JOIN revoked_unit_binding AS same
        ON same.revoked_binding_no = x.revoked_binding_no
        AND same.binding_no = b.binding_no
    WHERE same.binding_no IS NULL
),
served_after_revocation AS (
    SELECT
        x.device_id,
        x.account_id,
        x.ts AS event_ts,
        x._source_file,
        x._source_line,
        -- One row per access, however many of the unit's bindings tie it to a revoked unit
        -- (its serial one and a serial-less one, say): the smallest serial is shown.
        min(x.serial) AS serial,
        x.action || ' of media captured after revocation' AS event
    FROM revoked_unit_access AS x
    LEFT JOIN through_unit_binding AS t
        ON t.access_no = x.access_no
        AND t.revoked_binding_no = x.revoked_binding_no
    LEFT JOIN other_unit_then AS o
        ON o.access_no = x.access_no
        AND o.revoked_binding_no = x.revoked_binding_no
    WHERE t.access_no IS NOT NULL
        OR o.access_no IS NULL
    GROUP BY x.access_no, x.device_id, x.account_id, x.ts, x._source_file, x._source_line,
        x.action
)
SELECT * FROM bound_anew
UNION
SELECT * FROM served_after_revocation
