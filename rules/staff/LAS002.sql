-- Served live views of human staff with no covering consent. For a live action only a
-- consent of scope exactly `live` covers (a `*` consent never does), so consent_covered
-- already means "an explicit live consent".
SELECT
    staff_id,
    target_account_id AS account_id,
    ts AS event_ts,
    _source_file,
    _source_line,
    device_id,
    channel,
    ticket_id
FROM staff_action_target
WHERE is_served
    AND is_human
    AND action_scope = 'live'
    AND NOT consent_covered
