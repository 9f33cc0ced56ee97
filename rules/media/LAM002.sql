-- Bursts of media_to_non_owner deliveries: leaked accesses chained while consecutive ones
-- are at most $max_gap apart; a chain reaching $min_accounts distinct recipients is a burst.
-- Its window (first and last leaked access) and recipients identify it.
WITH leaked_access AS (
    SELECT *
    FROM customer_access_owner
    WHERE is_served
        AND NOT legit_by_ownership
),
leak_chain_start AS (
    SELECT
        access_no,
        ts,
        coalesce(ts - lag(ts) OVER (ORDER BY ts, access_no) > $max_gap, true) AS starts_chain
    FROM customer_access
    WHERE is_served
        AND NOT legit_by_ownership
),
leak_chain AS (
    SELECT
        access_no,
        sum(starts_chain::INTEGER) OVER (ORDER BY ts, access_no ROWS UNBOUNDED PRECEDING) AS chain_no
    FROM leak_chain_start
),
burst AS (
    SELECT
        c.chain_no,
        min(l.ts) AS window_start,
        max(l.ts) AS window_end,
        list_sort(list(DISTINCT l.account_id)) AS accounts
    FROM leak_chain AS c
    JOIN leaked_access AS l
        ON l.access_no = c.access_no
    GROUP BY c.chain_no
    HAVING count(DISTINCT l.account_id) >= $min_accounts
)
SELECT
    iso_utc(b.window_start) AS window_start,
    iso_utc(b.window_end) AS window_end,
    b.accounts,
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
JOIN leak_chain AS c
    ON c.chain_no = b.chain_no
JOIN leaked_access AS l
    ON l.access_no = c.access_no
