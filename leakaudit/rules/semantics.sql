-- The shared semantics of SPEC §2, exactly as docs/semantics.md reads it.
--
-- Run once per audit, before any rule. Every rule reads these temp views and tables instead
-- of re-deriving ownership, capture time, share, partner-link or consent coverage, so a
-- change of meaning happens here, once. Intervals are half-open [start, end) and a missing
-- end is open; the views carry the open end as 'infinity' so comparisons stay plain.

-- A timestamp as the one ISO-8601 UTC form of every output (seconds, microseconds only when
-- present, a trailing Z), for timestamps that become entity values and so must be stable.
CREATE OR REPLACE TEMP MACRO iso_utc(t) AS
    CASE
        WHEN t IS NULL THEN NULL
        WHEN epoch_us(t) % 1000000 = 0 THEN strftime(t AT TIME ZONE 'UTC', '%Y-%m-%dT%H:%M:%SZ')
        ELSE strftime(t AT TIME ZONE 'UTC', '%Y-%m-%dT%H:%M:%S.%fZ')
    END;

-- A physical unit's serial and MAC in one normal form: one unit written two ways (aa:bb:…
-- vs AA-BB-…, a padded serial) is still one unit. A placeholder is no serial or MAC at all
-- (unknown, like a missing one): a word such as N/A, none or unknown, a serial with no letter
-- or digit but 0 (0, -, ?), a MAC that is not hex digits once its separators are gone, or is
-- only 0s or only Fs. Otherwise every camera registered with serial N/A would be one unit.
CREATE OR REPLACE TEMP MACRO serial_text(serial) AS upper(trim(serial));
CREATE OR REPLACE TEMP MACRO unit_serial(serial) AS
    CASE
        WHEN NOT regexp_full_match(serial_text(serial), 'N/?A|NONE|NULL|NIL|UNKNOWN|UNDEFINED|TBD')
            AND NOT regexp_full_match(replace(serial_text(serial), '0', ''), '[^\pL\pN]*')
            THEN serial_text(serial)
    END;
CREATE OR REPLACE TEMP MACRO mac_digits(mac) AS lower(regexp_replace(mac, '[\s:.\-_]', '', 'g'));
CREATE OR REPLACE TEMP MACRO unit_mac(mac) AS
    CASE
        WHEN regexp_full_match(mac_digits(mac), '[0-9a-f]+')
            AND NOT regexp_full_match(mac_digits(mac), '0+|f+')
            THEN mac_digits(mac)
    END;

-- One row per registry binding of a device to an account: owner(D, t) holds for account_id
-- iff bound_from <= t < bound_to. Stored: the serial and MAC normal forms (a regexp per row)
-- are computed once, not in every rule and self-join that reads bindings.
CREATE OR REPLACE TEMP TABLE binding AS
SELECT
    rowid AS binding_no,
    device_id,
    account_id,
    registered_at AS bound_from,
    coalesce(deregistered_at, 'infinity'::TIMESTAMPTZ) AS bound_to,
    deregistered_at,
    unit_serial(serial) AS serial,
    unit_mac(mac) AS mac,
    model,
    firmware,
    status,
    revoked_at,
    _source_file,
    _source_line
FROM devices
-- A binding that ends at or before it starts holds no instant: it makes no owner and
-- overlaps nothing (docs/semantics.md, "Time and intervals").
WHERE deregistered_at IS NULL OR deregistered_at > registered_at;

-- Every revocation of a physical unit: a registry row with status revoked or returned, or
-- with a revoked_at, revokes its unit at revoked_at, else at its deregistered_at. Read from
-- devices, not binding: a revoked row whose binding holds no instant still revokes the unit.
-- revoked_binding_no is the row's binding_no.
CREATE OR REPLACE TEMP VIEW unit_revocation AS
SELECT
    rowid AS revoked_binding_no,
    device_id,
    unit_serial(serial) AS serial,
    unit_mac(mac) AS mac,
    coalesce(revoked_at, deregistered_at) AS revoked_time
FROM devices
WHERE (status IN ('revoked', 'returned') OR revoked_at IS NOT NULL)
    AND coalesce(revoked_at, deregistered_at) IS NOT NULL;

-- Pairs of bindings of one device id whose half-open intervals overlap (each pair both ways,
-- a hand-over at the same instant excluded), with what the device rules compare: the other
-- binding's account, serial and MAC.
CREATE OR REPLACE TEMP VIEW binding_overlap AS
SELECT
    mine.binding_no,
    mine.device_id,
    mine.account_id,
    mine.serial,
    mine.mac,
    mine._source_file,
    mine._source_line,
    other.binding_no AS other_binding_no,
    other.account_id AS other_account_id,
    other.serial AS other_serial,
    other.mac AS other_mac,
    greatest(mine.bound_from, other.bound_from) AS overlap_from
FROM binding AS mine
JOIN binding AS other
    ON other.device_id = mine.device_id
    AND other.binding_no <> mine.binding_no
    AND mine.bound_from < other.bound_to
    AND other.bound_from < mine.bound_to;

-- Ownership intervals: the bindings of one account to one device, merged where they overlap
-- or touch (a re-registration inside one household), so that owner(D, t) is a join that
-- matches each owning account at most once.
CREATE OR REPLACE TEMP TABLE ownership AS
WITH binding_in_order AS (
    SELECT
        device_id,
        account_id,
        bound_from,
        bound_to,
        max(bound_to) OVER (
            PARTITION BY device_id, account_id
            ORDER BY bound_from, bound_to
            ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING
        ) AS earlier_bound_to
    FROM binding
),
binding_island AS (
    SELECT
        device_id,
        account_id,
        bound_from,
        bound_to,
        sum(CASE WHEN earlier_bound_to IS NULL OR bound_from > earlier_bound_to THEN 1 ELSE 0 END) OVER (
            PARTITION BY device_id, account_id
            ORDER BY bound_from, bound_to
            ROWS UNBOUNDED PRECEDING
        ) AS island_no
    FROM binding_in_order
)
SELECT
    device_id,
    account_id,
    min(bound_from) AS owned_from,
    max(bound_to) AS owned_to
FROM binding_island
GROUP BY device_id, account_id, island_no;

-- The capture time of each recorded item: its earliest captured_at.
CREATE OR REPLACE TEMP VIEW media_capture AS
SELECT
    media_id,
    min(captured_at) AS captured_at
FROM media
GROUP BY media_id;

-- A media id that media lists under several devices: an access's own media row is the one of
-- its device, so these ids also have a capture time per device. Usually empty, so the extra
-- join of every access costs next to nothing.
CREATE OR REPLACE TEMP VIEW media_capture_on_device AS
SELECT
    media_id,
    device_id,
    min(captured_at) AS captured_at
FROM media
GROUP BY media_id, device_id
-- one scan of media: the groups of ids that another device's group shares
QUALIFY count(*) OVER (PARTITION BY media_id) > 1;

-- The scope of a customer action. An action SPEC §1 does not name has scope 'unknown': only
-- an owner, or a share of scope '*', makes it legitimate (docs/semantics.md).
CREATE OR REPLACE TEMP MACRO customer_action_scope(action) AS
    CASE
        WHEN action = 'live' THEN 'live'
        -- two short IN lists: DuckDB turns one of six items into a join of every row
        WHEN action IN ('notify', 'thumbnail', 'list') OR action IN ('snapshot', 'clip', 'download')
            THEN 'media'
        ELSE 'unknown'
    END;

-- Every customer access (every outcome) with its capture time: the event's columns rules
-- read, defaults applied. A view: customer_access_judged keeps the few rows that need more
-- than ownership, and customer_access derives the others from it on read.
CREATE OR REPLACE TEMP VIEW access_capture AS
SELECT
    a.rowid AS access_no,
    a.ts,
    a.account_id,
    a.device_id,
    a.action,
    coalesce(a.outcome, 'served') AS outcome,
    a.media_id,
    a.event_id,
    nullif(a.session_id, '') AS session_id,
    nullif(a.partner, '') AS partner,
    coalesce(a.captured_at, md.captured_at, mc.captured_at, a.ts) AS capture_time,
    a._source_file,
    a._source_line
FROM access_events AS a
LEFT JOIN media_capture AS mc
    ON mc.media_id = a.media_id
LEFT JOIN media_capture_on_device AS md
    ON md.media_id = a.media_id
    AND md.device_id = a.device_id;

-- The customer accesses whose judgement needs more than ownership, stored with the flags
-- rules filter on: the recipient did not own the device at capture time, or a share covers
-- the access, or a partner integration made it. Every other access is a plain owner access
-- (owner at capture time, no covering share, no partner): nearly all of a camera cloud's
-- traffic, which customer_access derives on read instead of storing a copy of every event.
CREATE OR REPLACE TEMP TABLE customer_access_judged AS
WITH share_covered_access AS (
    SELECT DISTINCT
        ac.access_no
    FROM access_capture AS ac
    JOIN shares AS s
        ON s.device_id = ac.device_id
        AND s.grantee_account_id = ac.account_id
        AND s.granted_at <= ac.ts
        AND ac.ts < coalesce(s.revoked_at, 'infinity'::TIMESTAMPTZ)
        AND coalesce(s.scope, '*') IN ('*', customer_action_scope(ac.action))
        -- 'unknown' names the scope of an action SPEC does not name; as a share's scope it
        -- covers nothing (only '*' covers such an action)
        AND coalesce(s.scope, '*') <> 'unknown'
    JOIN ownership AS o
        ON o.device_id = s.device_id
        AND o.account_id = s.owner_account_id
        AND o.owned_from <= ac.capture_time
        AND ac.capture_time < o.owned_to
),
partner_linked_access AS (
    SELECT DISTINCT
        ac.access_no
    FROM access_capture AS ac
    JOIN partner_links AS l
        ON l.account_id = ac.account_id
        AND l.partner = ac.partner
        AND l.linked_at <= ac.ts
        AND ac.ts < coalesce(l.unlinked_at, 'infinity'::TIMESTAMPTZ)
)
SELECT
    ac.access_no,
    ac.ts,
    ac.account_id,
    ac.device_id,
    ac.action,
    ac.outcome,
    ac.media_id,
    ac.event_id,
    ac.session_id,
    ac.partner,
    ac.capture_time,
    ac._source_file,
    ac._source_line,
    o.account_id IS NOT NULL AS is_owner,
    s.access_no IS NOT NULL AS share_covered,
    l.access_no IS NOT NULL AS partner_link_active
FROM access_capture AS ac
LEFT JOIN ownership AS o
    ON o.device_id = ac.device_id
    AND o.account_id = ac.account_id
    AND o.owned_from <= ac.capture_time
    AND ac.capture_time < o.owned_to
LEFT JOIN share_covered_access AS s
    ON s.access_no = ac.access_no
LEFT JOIN partner_linked_access AS l
    ON l.access_no = ac.access_no
WHERE o.account_id IS NULL
    OR s.access_no IS NOT NULL
    OR ac.partner IS NOT NULL;

-- One row per customer access (every outcome), with what SPEC §2 needs to judge it: capture
-- time, action scope, whether the recipient owned the device at capture time, and share and
-- partner-link coverage. The owners themselves are in customer_access_owner. A plain owner
-- access is every access not in customer_access_judged, so its flags are constants (and its
-- partner is NULL): a rule that keeps only the judged kinds (NOT legit_by_ownership,
-- is_partner) never reads the events again.
CREATE OR REPLACE TEMP VIEW customer_access AS
WITH flagged_access AS (
    SELECT
        access_no,
        ts,
        account_id,
        device_id,
        action,
        outcome,
        media_id,
        event_id,
        session_id,
        partner,
        capture_time,
        _source_file,
        _source_line,
        is_owner,
        share_covered,
        partner_link_active
    FROM customer_access_judged
    UNION ALL
    SELECT
        ac.access_no,
        ac.ts,
        ac.account_id,
        ac.device_id,
        ac.action,
        ac.outcome,
        ac.media_id,
        ac.event_id,
        ac.session_id,
        NULL AS partner,
        ac.capture_time,
        ac._source_file,
        ac._source_line,
        true AS is_owner,
        false AS share_covered,
        false AS partner_link_active
    FROM access_capture AS ac
    WHERE NOT EXISTS (
        SELECT 1
        FROM customer_access_judged AS j
        WHERE j.access_no = ac.access_no
    )
)
SELECT
    access_no,
    ts,
    account_id,
    device_id,
    action,
    outcome,
    -- Only denied and error are not deliveries; an unknown outcome ('success', '200') is.
    outcome NOT IN ('denied', 'error') AS is_served,
    media_id,
    event_id,
    -- One delivered item: the media, else the event, else the device's recording at that time.
    coalesce(media_id, event_id, device_id || '@' || iso_utc(capture_time)) AS media_key,
    session_id,
    partner,
    partner IS NOT NULL AS is_partner,
    capture_time,
    customer_action_scope(action) AS action_scope,
    action IN ('snapshot', 'clip', 'live', 'download') AS is_view,
    is_owner,
    share_covered,
    is_owner OR share_covered AS legit_by_ownership,
    partner_link_active,
    _source_file,
    _source_line
FROM flagged_access;

-- customer_access once per owner of the device at capture time (owner_account_id NULL when
-- nobody owned it then): the shape of media_to_non_owner and of exposure counting. A rule's
-- filter on the access columns applies before the join expands it.
CREATE OR REPLACE TEMP VIEW customer_access_owner AS
SELECT
    ca.*,
    o.account_id AS owner_account_id
FROM customer_access AS ca
LEFT JOIN ownership AS o
    ON o.device_id = ca.device_id
    AND o.owned_from <= ca.capture_time
    AND ca.capture_time < o.owned_to;

-- Denied customer requests on devices foreign to the account: SPEC §2's "many denials across
-- foreign devices are probing". A device is foreign to the account at a request when the
-- request is not legitimate by ownership, the account does not own the device at the
-- request time either (a new owner refused a clip from before the sale asks for its own
-- camera), and it holds no share of the device active then, of any scope (a member refused
-- a live view its media share does not cover knows the camera). A view: only the probing
-- rule reads it, over the few denied rows.
CREATE OR REPLACE TEMP VIEW foreign_denial AS
SELECT
    ca.*
FROM customer_access AS ca
WHERE ca.outcome = 'denied'
    AND NOT ca.legit_by_ownership
    AND NOT EXISTS (
        SELECT 1
        FROM ownership AS o
        WHERE o.device_id = ca.device_id
            AND o.account_id = ca.account_id
            AND o.owned_from <= ca.ts
            AND ca.ts < o.owned_to
    )
    AND NOT EXISTS (
        SELECT 1
        FROM shares AS s
        WHERE s.device_id = ca.device_id
            AND s.grantee_account_id = ca.account_id
            AND s.granted_at <= ca.ts
            AND ca.ts < coalesce(s.revoked_at, 'infinity'::TIMESTAMPTZ)
    );

-- One row per directory row. A staff_id may have several (a rehire, a move to another
-- team), each with its own employment window; staff_action picks the one for each action.
CREATE OR REPLACE TEMP VIEW staff_member AS
SELECT
    staff_id,
    team,
    role,
    email,
    nullif(own_account_id, '') AS own_account_id,
    coalesce(kind, 'human') AS kind,
    active_from,
    active_to,
    _source_file,
    _source_line
FROM staff;

-- One row per staff action (every outcome) with the acting principal as the directory knows
-- it. Principals unknown to the directory are humans.
CREATE OR REPLACE TEMP TABLE staff_action AS
SELECT
    sa.rowid AS action_no,
    sa.ts,
    sa.staff_id,
    sa.action,
    coalesce(sa.outcome, 'served') AS outcome,
    coalesce(sa.outcome, 'served') NOT IN ('denied', 'error') AS is_served,
    nullif(sa.account_id, '') AS account_id,
    nullif(sa.device_id, '') AS device_id,
    nullif(sa.media_id, '') AS media_id,
    sa.lookup_key,
    sa.ticket_id,
    sa.channel,
    CASE
        WHEN sa.action = 'live' THEN 'live'
        WHEN sa.action IN ('lookup', 'account') THEN 'account'
        WHEN sa.action IN (
            'notify', 'thumbnail', 'list', 'snapshot', 'clip', 'download', 'raw_read'
        ) THEN 'media'
        ELSE 'unknown'  -- covered by no consent, '*' included
    END AS action_scope,
    sm.staff_id IS NOT NULL AS staff_known,
    coalesce(sm.kind, 'human') AS staff_kind,
    coalesce(sm.kind, 'human') <> 'service' AS is_human,
    sm.team AS staff_team,
    sm.own_account_id AS staff_own_account_id,
    sm.active_from AS staff_active_from,
    sm.active_to AS staff_active_to,
    sa._source_file,
    sa._source_line
FROM staff_access AS sa
LEFT JOIN staff_member AS sm
    ON sm.staff_id = sa.staff_id
-- A staff_id may have several directory rows (a rehire, a move to another team): an action
-- takes the row whose employment covers it; else the last one that began before it (the
-- action came after it ended); else the first one (the action came before any began).
QUALIFY row_number() OVER (
    PARTITION BY sa.rowid
    ORDER BY
        coalesce(sm.active_from <= sa.ts, true) AND coalesce(sa.ts < sm.active_to, true) DESC,
        coalesce(sm.active_from <= sa.ts, true) DESC,
        CASE WHEN coalesce(sm.active_from <= sa.ts, true) THEN sm.active_from END DESC,
        sm.active_from,
        sm._source_file,
        sm._source_line
) = 1;

-- One row per staff action and target account: account_id, else the device's owners at the
-- action time, else the owners of the media's device at capture time, else NULL (unknown).
-- consent_covered: a consent of the target covers the action (SPEC §2), so for a `live`
-- action it is an explicit `live` consent, since `*` never covers live.
CREATE OR REPLACE TEMP TABLE staff_action_target AS
WITH device_owner_at_action AS (
    SELECT
        sa.action_no,
        o.account_id AS target_account_id
    FROM staff_action AS sa
    JOIN ownership AS o
        ON o.device_id = sa.device_id
        AND o.owned_from <= sa.ts
        AND sa.ts < o.owned_to
    WHERE sa.account_id IS NULL
),
media_owner_at_capture AS (
    SELECT DISTINCT
        sa.action_no,
        o.account_id AS target_account_id
    FROM staff_action AS sa
    JOIN media AS m
        ON m.media_id = sa.media_id
    JOIN ownership AS o
        ON o.device_id = m.device_id
        AND o.owned_from <= m.captured_at
        AND m.captured_at < o.owned_to
    WHERE sa.account_id IS NULL
        AND sa.action_no NOT IN (SELECT action_no FROM device_owner_at_action)
),
resolved_target AS (
    SELECT
        action_no,
        account_id AS target_account_id
    FROM staff_action
    WHERE account_id IS NOT NULL
    UNION ALL
    SELECT
        action_no,
        target_account_id
    FROM device_owner_at_action
    UNION ALL
    SELECT
        action_no,
        target_account_id
    FROM media_owner_at_capture
),
action_target AS (
    SELECT
        sa.*,
        rt.target_account_id
    FROM staff_action AS sa
    LEFT JOIN resolved_target AS rt
        ON rt.action_no = sa.action_no
),
covered_action_target AS (
    SELECT DISTINCT
        tgt.action_no,
        tgt.target_account_id
    FROM action_target AS tgt
    JOIN consents AS c
        ON c.account_id = tgt.target_account_id
        AND c.granted_at <= tgt.ts
        AND tgt.ts < coalesce(c.expires_at, 'infinity'::TIMESTAMPTZ)
        AND tgt.ts < coalesce(c.revoked_at, 'infinity'::TIMESTAMPTZ)
        AND (
            coalesce(c.grantee, '*') = '*'
            OR c.grantee = tgt.staff_id
            OR c.grantee = 'team:' || tgt.staff_team
        )
        AND (
            -- 'unknown' is the scope of an action SPEC does not name: no consent covers it
            (c.scope = tgt.action_scope AND tgt.action_scope <> 'unknown')
            OR (c.scope = '*' AND tgt.action_scope IN ('media', 'account'))
        )
)
SELECT
    tgt.*,
    cat.action_no IS NOT NULL AS consent_covered
FROM action_target AS tgt
LEFT JOIN covered_action_target AS cat
    ON cat.action_no = tgt.action_no
    AND cat.target_account_id = tgt.target_account_id;
