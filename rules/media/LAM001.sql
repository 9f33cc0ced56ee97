-- Served customer accesses that are not legitimate by ownership (SPEC §2): the recipient
-- neither owned the device at capture time nor held a covering share from such an owner.
-- One row per access and owner at capture time (NULL when nobody owned the device then).
SELECT
    device_id,
    account_id,
    owner_account_id,
    ts AS event_ts,
    _source_file,
    _source_line,
    action,
    media_key,
    iso_utc(capture_time) AS captured_at,
    partner,
    account_id AS exposure_recipient,
    owner_account_id AS exposure_owner,
    media_key AS exposure_item,
    is_view AS exposure_viewed
FROM customer_access_owner
WHERE is_served
    AND NOT legit_by_ownership
