-- Streaming sessions whose served items come from devices of two or more owners (at capture
-- time) with at least one item the session's account may not see. The foreign items are the
-- offending rows. A household session over its own and shared cameras is all legitimate.
WITH foreign_session AS (
    SELECT DISTINCT
        session_id,
        account_id
    FROM customer_access
    WHERE is_served
        AND session_id IS NOT NULL
        AND NOT legit_by_ownership
),
crossing_session AS (
    SELECT
        cao.session_id,
        cao.account_id
    FROM customer_access_owner AS cao
    JOIN foreign_session AS fs
        ON fs.session_id = cao.session_id
        AND fs.account_id = cao.account_id
    WHERE cao.is_served
    GROUP BY cao.session_id, cao.account_id
    HAVING count(DISTINCT cao.owner_account_id) >= 2
)
-- The offending rows are filtered before the join, so the derived columns (media_key, ...)
-- are computed for them alone.
SELECT
    sa.session_id,
    sa.account_id,
    sa.ts AS event_ts,
    sa._source_file,
    sa._source_line,
    sa.device_id,
    sa.owner_account_id,
    sa.action,
    sa.account_id AS exposure_recipient,
    sa.owner_account_id AS exposure_owner,
    sa.media_key AS exposure_item,
    sa.is_view AS exposure_viewed
FROM customer_access_owner AS sa
JOIN crossing_session AS cs
    ON cs.session_id = sa.session_id
    AND cs.account_id = sa.account_id
WHERE sa.is_served
    AND NOT sa.legit_by_ownership
