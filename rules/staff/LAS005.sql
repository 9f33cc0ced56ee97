-- Unconsented access of a human staff member to the own customer account of another
-- employee (an own_account_id of any of their directory rows), employed at the time of the
-- access. Look-ups
-- need no consent by themselves. An account that any directory row of the actor names as
-- their own (a rehire whose old row kept it) is theirs, not a colleague's.
WITH colleague_at_action AS (
    SELECT
        t.action_no,
        t.target_account_id,
        list_sort(list(DISTINCT m.staff_id)) AS colleague_ids
    FROM staff_action_target AS t
    JOIN staff_member AS m
        ON m.own_account_id = t.target_account_id
        AND m.staff_id <> t.staff_id
    -- employed then: any of the colleague's rows covers the action (a rehire's new row
    -- need not repeat the own account its old row named)
    JOIN staff_member AS employed
        ON employed.staff_id = m.staff_id
        AND coalesce(employed.active_from <= t.ts, true)
        AND coalesce(t.ts < employed.active_to, true)
    WHERE t.is_served
        AND t.is_human
        AND t.action <> 'lookup'
        AND NOT t.consent_covered
    GROUP BY t.action_no, t.target_account_id
)
SELECT
    t.staff_id,
    t.target_account_id AS account_id,
    t.ts AS event_ts,
    t._source_file,
    t._source_line,
    t.action,
    array_to_string(c.colleague_ids, ', ') AS colleague,
    t.ticket_id
FROM staff_action_target AS t
JOIN colleague_at_action AS c
    ON c.action_no = t.action_no
    AND c.target_account_id = t.target_account_id
WHERE NOT EXISTS (
    SELECT 1
    FROM staff_member AS own
    WHERE own.staff_id = t.staff_id
        AND own.own_account_id = t.target_account_id
)
