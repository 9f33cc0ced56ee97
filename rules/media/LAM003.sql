-- Served partner-originated accesses that serve a device the linked account may not see,
-- or that arrive with no active link of the account to that partner. Foreign media is
-- counted once per owner at capture time; an owned device without a link once.
WITH partner_access AS (
    SELECT *
    FROM customer_access_owner
    WHERE is_served
        AND is_partner
        AND (NOT legit_by_ownership OR NOT partner_link_active)
),
partner_access_once AS (
    -- an access the account may see (no link) is one event, however many owners it has
    SELECT *
    FROM partner_access
    WHERE NOT legit_by_ownership
    UNION ALL
    SELECT *
    FROM partner_access
    WHERE legit_by_ownership
    QUALIFY row_number() OVER (PARTITION BY access_no ORDER BY owner_account_id) = 1
)
SELECT
    device_id,
    account_id,
    partner,
    ts AS event_ts,
    _source_file,
    _source_line,
    action,
    owner_account_id,
    CASE
        WHEN NOT legit_by_ownership AND NOT partner_link_active
            THEN 'foreign device and no active partner link'
        WHEN NOT legit_by_ownership THEN 'device not visible to the linked account'
        ELSE 'no active partner link'
    END AS problem,
    CASE WHEN NOT legit_by_ownership THEN account_id END AS exposure_recipient,
    CASE WHEN NOT legit_by_ownership THEN owner_account_id END AS exposure_owner,
    CASE WHEN NOT legit_by_ownership THEN media_key END AS exposure_item,
    CASE WHEN NOT legit_by_ownership THEN is_view END AS exposure_viewed
FROM partner_access_once
