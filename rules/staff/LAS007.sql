-- Served reads of the raw media store by human principals: action raw_read, or any action
-- through the raw_storage channel. Only service principals may read it.
SELECT
    staff_id,
    ts AS event_ts,
    _source_file,
    _source_line,
    action,
    channel,
    media_id,
    device_id
FROM staff_action
WHERE is_served
    AND is_human
    AND (action = 'raw_read' OR channel = 'raw_storage')
