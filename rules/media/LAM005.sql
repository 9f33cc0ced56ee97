-- Probing: denied requests of one account on foreign devices (semantics.sql foreign_denial:
-- neither owned nor shared with it), reaching $min_devices distinct devices within $window.
-- Every denial inside such a window is a row.
WITH denial_window AS (
    SELECT
        account_id,
        ts AS window_end,
        count(DISTINCT device_id) OVER (
            PARTITION BY account_id
            ORDER BY ts
            RANGE BETWEEN $window PRECEDING AND CURRENT ROW
        ) AS devices_in_window
    FROM foreign_denial
),
probing_window AS (
    SELECT DISTINCT
        account_id,
        window_end
    FROM denial_window
    WHERE devices_in_window >= $min_devices
),
probing_denial AS (
    SELECT DISTINCT
        d.access_no
    FROM foreign_denial AS d
    JOIN probing_window AS w
        ON w.account_id = d.account_id
        AND d.ts >= w.window_end - $window
        AND d.ts <= w.window_end
)
SELECT
    d.account_id,
    d.ts AS event_ts,
    d._source_file,
    d._source_line,
    d.device_id,
    d.action
FROM probing_denial AS p
JOIN foreign_denial AS d
    ON d.access_no = p.access_no
