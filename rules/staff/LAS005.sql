-- Unconsented access of a human staff member to the own customer account of another
-- employee (the directory's own_account_id). Look-ups need no consent by themselves.
WITH colleague_account AS (
    SELECT
        own_account_id,
        list_sort(list(staff_id)) AS colleague_ids
    FROM staff_member
    WHERE own_account_id IS NOT NULL
    GROUP BY own_account_id
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
JOIN colleague_account AS c
    ON c.own_account_id = t.target_account_id
WHERE t.is_served
    AND t.is_human
    AND t.action <> 'lookup'
    AND NOT t.consent_covered
    AND t.target_account_id IS DISTINCT FROM t.staff_own_account_id
