-- One row per loaded audit-log record: every loaded column, plus the local time and where its
-- time zone came from, the description with HTML entities decoded (also when double-escaped), and
-- whether the system actor did it. The zone: `models build --time-zone` / `models.time_zone` for
-- every account, else the one the load recorded in `accounts` (configured, the account settings',
-- or UTC), else UTC. Staging reads `accounts` only for the time zone: one row per subdomain, so
-- the join never changes the grain.
with audit_logs as (
    select * from {{ source('zendesk_audit', 'audit_logs') }}
),

accounts as (
    select * from {{ zendesk_audit.accounts_relation() }} as accounts
),

with_time_zone as (
    select
        audit_logs.*,
        coalesce({{ zendesk_audit.configured_time_zone() }}, nullif(trim(accounts.iana_time_zone), ''), 'UTC') as time_zone,
        case
            when {{ zendesk_audit.configured_time_zone() }} is not null then 'configured'
            when nullif(trim(accounts.iana_time_zone), '') is null then 'utc_fallback'
            else coalesce(accounts.time_zone_source, 'account_settings')
        end as time_zone_source
    from audit_logs
    left join accounts
        on accounts.subdomain = audit_logs.subdomain
),

-- Zendesk escapes descriptions once or twice (`&amp;gt;`): two identical passes decode both.
decoded_once as (
    select
        with_time_zone.*,
        replace(replace(replace(replace(replace(replace(replace(
            change_description,
            '&quot;', '"'), '&#39;', ''''), '&#x27;', ''''), '&lt;', '<'), '&gt;', '>'), '&nbsp;', ' '),
            '&amp;', '&') as change_description_once
    from with_time_zone
),

decoded as (
    select
        decoded_once.*,
        replace(replace(replace(replace(replace(replace(replace(
            change_description_once,
            '&quot;', '"'), '&#39;', ''''), '&#x27;', ''''), '&lt;', '<'), '&gt;', '>'), '&nbsp;', ' '),
            '&amp;', '&') as change_description_text
    from decoded_once
),

final as (
    select
        id,
        subdomain,
        created_at,
        action,
        action_label,
        actor_id,
        actor_name,
        ip_address,
        source_id,
        source_type,
        source_label,
        change_description,
        url,
        _dlt_load_id,
        _dlt_id,
        coalesce(_source, 'api') as record_source,
        time_zone,
        time_zone_source,
        change_description_text,
        coalesce(actor_id = -1, false) as is_system,
        {{ zendesk_audit.to_local_time_by_zone('created_at', 'time_zone', zendesk_audit.known_time_zones()) }} as created_at_local
    from decoded
)

select * from final
