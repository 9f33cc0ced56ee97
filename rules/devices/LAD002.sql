-- Two physical units behind one identity at overlapping times: one device id with two
-- serials or MACs, or one serial under two device ids. Unknown (missing) serials and MACs
-- never conflict. One row per binding involved.
WITH same_id_other_unit AS (
    SELECT
        binding_no,
        overlap_from,
        CASE
            WHEN serial <> other_serial THEN 'device id also held by serial ' || other_serial
            ELSE 'device id also held by MAC ' || other_mac
        END AS conflict
    FROM binding_overlap
    WHERE serial <> other_serial
        OR mac <> other_mac
),
same_serial_other_id AS (
    SELECT
        mine.binding_no,
        greatest(mine.bound_from, other.bound_from) AS overlap_from,
        'serial also registered as device ' || other.device_id AS conflict
    FROM binding AS mine
    JOIN binding AS other
        ON other.serial = mine.serial
        AND other.device_id <> mine.device_id
        AND mine.bound_from < other.bound_to
        AND other.bound_from < mine.bound_to
),
conflicting_binding AS (
    SELECT
        binding_no,
        min(overlap_from) AS event_ts,
        min(conflict) AS conflict
    FROM (
        SELECT * FROM same_id_other_unit
        UNION ALL
        SELECT * FROM same_serial_other_id
    )
    GROUP BY binding_no
)
SELECT
    b.device_id,
    b.serial,
    c.event_ts,
    b._source_file,
    b._source_line,
    b.account_id,
    b.mac,
    c.conflict
FROM conflicting_binding AS c
JOIN binding AS b
    ON b.binding_no = c.binding_no
