-- Bindings of one device id held by different accounts at overlapping times (half-open
-- intervals, so a hand-over at the same instant does not overlap), plus the media of the
-- device delivered while it had two owners at capture time: the exposure.
WITH overlapping_binding AS (
    SELECT
        binding_no,
        device_id,
        account_id,
        overlap_from,
        _source_file,
        _source_line
    FROM binding_overlap
    WHERE other_account_id <> account_id
),
duplicate_accounts AS (
    SELECT
        device_id,
        list_sort(list(DISTINCT account_id)) AS accounts
    FROM overlapping_binding
    GROUP BY device_id
),
overlapping_binding_event AS (
    SELECT
        binding_no,
        device_id,
        account_id,
        min(overlap_from) AS event_ts,
        any_value(_source_file) AS _source_file,
        any_value(_source_line) AS _source_line
    FROM overlapping_binding
    GROUP BY binding_no, device_id, account_id
),
-- Two owners at capture time means two physical homes may be behind the id: every item
-- delivered then may show the other owner's home.
duplicate_device_access AS (
    SELECT
        cao.*,
        count(cao.owner_account_id) OVER (PARTITION BY cao.access_no) AS owners_at_capture
    FROM customer_access_owner AS cao
    -- EXISTS, not a JOIN: DuckDB then always builds on the 943-row side. With a JOIN its
    -- estimates sometimes put the 10 M accesses on the build side (4 s instead of 1 s).
    WHERE cao.is_served
        AND EXISTS (SELECT 1 FROM duplicate_accounts AS d WHERE d.device_id = cao.device_id)
),
exposed_access AS (
    SELECT
        device_id,
        account_id,
        owner_account_id,
        media_key,
        is_view,
        action,
        ts,
        _source_file,
        _source_line
    FROM duplicate_device_access
    WHERE owners_at_capture >= 2
        AND owner_account_id <> account_id
)
SELECT
    d.device_id,
    d.accounts,
    e.event_ts,
    e._source_file,
    e._source_line,
    e.account_id,
    'bound' AS event,
    NULL::VARCHAR AS exposure_recipient,
    NULL::VARCHAR AS exposure_owner,
    NULL::VARCHAR AS exposure_item,
    NULL::BOOLEAN AS exposure_viewed
FROM overlapping_binding_event AS e
JOIN duplicate_accounts AS d
    ON d.device_id = e.device_id
UNION ALL
SELECT
    d.device_id,
    d.accounts,
    x.ts AS event_ts,
    x._source_file,
    x._source_line,
    x.account_id,
    x.action AS event,
    x.account_id AS exposure_recipient,
    x.owner_account_id AS exposure_owner,
    x.media_key AS exposure_item,
    x.is_view AS exposure_viewed
FROM exposed_access AS x
JOIN duplicate_accounts AS d
    ON d.device_id = x.device_id
