-- Human staff reaching the media (recorded or live) of $min_customers distinct customers
-- within a sliding $window. Every access inside such a window is a row.
WITH customer_media_access AS (
    SELECT *
    FROM staff_action_target
    WHERE is_served
        AND is_human
        AND action_scope IN ('media', 'live')
        AND target_account_id IS NOT NULL
),
access_window AS (
    SELECT
        staff_id,
        ts AS window_end,
        count(DISTINCT target_account_id) OVER (
            PARTITION BY staff_id
            ORDER BY ts
            RANGE BETWEEN $window PRECEDING AND CURRENT ROW
        ) AS customers_in_window
    FROM customer_media_access
),
bulk_window AS (
    SELECT DISTINCT
        staff_id,
        window_end
    FROM access_window
    WHERE customers_in_window >= $min_customers
),
bulk_access AS (
    SELECT DISTINCT
        a.action_no,
        a.target_account_id
    FROM customer_media_access AS a
    JOIN bulk_window AS w
        ON w.staff_id = a.staff_id
        AND a.ts >= w.window_end - $window
        AND a.ts <= w.window_end
)
SELECT
    a.staff_id,
    a.ts AS event_ts,
    a._source_file,
    a._source_line,
    a.target_account_id AS account_id,
    a.action,
    a.ticket_id
FROM bulk_access AS b
JOIN customer_media_access AS a
    ON a.action_no = b.action_no
    AND a.target_account_id = b.target_account_id
