-- Bursts of media_to_non_owner deliveries: many recipients within a short window. A sliding
-- $window ending at a leaked access that holds $min_accounts distinct recipients is a burst
-- window; burst windows that overlap are one burst, and every leaked access inside one of
-- them is a row. Its window (first and last leaked access) and recipients identify it.
-- Leaks are counted in windows, not chained by their gaps: one account leaking steadily
-- would otherwise chain every stray leak of the day into one "burst" of many accounts.
WITH leak AS (
    SELECT
        access_no,
        ts,
        account_id
    FROM customer_access
    WHERE is_served
        AND NOT legit_by_ownership
),
leak_window AS (
    SELECT
        ts AS window_end,
        count(DISTINCT account_id) OVER (
            ORDER BY ts
            RANGE BETWEEN $window PRECEDING AND CURRENT ROW
        ) AS accounts_in_window
    FROM leak
),
burst_window AS (
    SELECT DISTINCT
        window_end
    FROM leak_window
    WHERE accounts_in_window >= $min_accounts
),
-- [end - window, end] and [next end - window, next end] overlap iff the ends are at most
-- $window apart; a run of overlapping windows covers [first end - window, last end].
burst_window_run AS (
    SELECT
        window_end,
        coalesce(window_end - lag(window_end) OVER (ORDER BY window_end) > $window, true)
            AS starts_burst
    FROM burst_window
),
burst_window_numbered AS (
    SELECT
        window_end,
        sum(starts_burst::INTEGER) OVER (ORDER BY window_end ROWS UNBOUNDED PRECEDING)
            AS burst_no
    FROM burst_window_run
),
burst_span AS (
    SELECT
        burst_no,
        min(window_end) - $window AS span_from,
        max(window_end) AS span_to
    FROM burst_window_numbered
    GROUP BY burst_no
),
burst_leak AS (
    SELECT
        b.burst_no,
        l.access_no,
        l.ts,
        l.account_id
    FROM burst_span AS b
    JOIN leak AS l
        ON l.ts >= b.span_from
        AND l.ts <= b.span_to
),
burst AS (
    SELECT
        burst_no,
        min(ts) AS window_start,
        max(ts) AS window_end
    FROM burst_leak
    GROUP BY burst_no
)
-- The recipients (entity `accounts`) are collected by the engine from account_id, once per
-- burst: on every row, a burst of 13,000 recipients would be 13,000 names 26,000 times.
SELECT
    iso_utc(b.window_start) AS window_start,
    iso_utc(b.window_end) AS window_end,
    l.ts AS event_ts,
    l._source_file,
    l._source_line,
    l.device_id,
    l.account_id,
    l.action,
    l.account_id AS exposure_recipient,
    l.owner_account_id AS exposure_owner,
    l.media_key AS exposure_item,
    l.is_view AS exposure_viewed
FROM burst AS b
JOIN burst_leak AS bl
    ON bl.burst_no = b.burst_no
JOIN customer_access_owner AS l
    ON l.access_no = bl.access_no
WHERE l.is_served
    AND NOT l.legit_by_ownership
