-- A look-up of a customer followed, within $within, by an unconsented access of the same
-- staff member to that customer. Both the look-up and the accesses are rows.
WITH customer_lookup AS (
    SELECT *
    FROM staff_action_target
    WHERE is_served
        AND is_human
        AND action = 'lookup'
        AND target_account_id IS NOT NULL
),
unconsented_access AS (
    SELECT *
    FROM staff_action_target
    WHERE is_served
        AND is_human
        AND action <> 'lookup'
        AND NOT consent_covered
),
lookup_then_access AS (
    SELECT
        l.action_no AS lookup_no,
        a.action_no AS access_no,
        l.target_account_id
    FROM customer_lookup AS l
    JOIN unconsented_access AS a
        ON a.staff_id = l.staff_id
        AND a.target_account_id = l.target_account_id
        AND a.ts >= l.ts
        AND a.ts <= l.ts + $within
),
-- Each action with the target it was looked up and accessed as: an action on a device with
-- two owners has a row per owner, and only the pair's target is evidence for this finding.
offending_action AS (
    SELECT lookup_no AS action_no, target_account_id FROM lookup_then_access
    UNION
    SELECT access_no AS action_no, target_account_id FROM lookup_then_access
)
SELECT DISTINCT
    t.staff_id,
    t.target_account_id AS account_id,
    t.ts AS event_ts,
    t._source_file,
    t._source_line,
    t.action,
    t.lookup_key,
    t.ticket_id
FROM offending_action AS o
JOIN staff_action_target AS t
    ON t.action_no = o.action_no
    AND t.target_account_id = o.target_account_id
