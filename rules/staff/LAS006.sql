-- Served actions of human principals that the directory does not know, or outside their
-- employment (active_from <= ts < active_to, missing ends open).
SELECT
    staff_id,
    ts AS event_ts,
    _source_file,
    _source_line,
    action,
    account_id,
    CASE
        WHEN NOT staff_known THEN 'not in the staff directory'
        WHEN ts < staff_active_from THEN 'before active_from ' || iso_utc(staff_active_from)
        ELSE 'after active_to ' || iso_utc(staff_active_to)
    END AS problem
FROM staff_action
WHERE is_served
    AND is_human
    AND (
        NOT staff_known
        OR ts < staff_active_from
        OR ts >= staff_active_to
    )
