-- Served media or account actions (or actions SPEC §1 does not name) of human staff on a
-- target account no consent covers. Look-ups need no consent by themselves and live views
-- are LAS002's. A target that cannot
-- be resolved is NULL and flagged: no consent can cover an unknown customer.
SELECT
    staff_id,
    target_account_id AS account_id,
    ts AS event_ts,
    _source_file,
    _source_line,
    action,
    channel,
    ticket_id
FROM staff_action_target
WHERE is_served
    AND is_human
    AND action <> 'lookup'
    AND action_scope IN ('media', 'account', 'unknown')
    AND NOT consent_covered
