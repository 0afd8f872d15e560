-- One row per local date, subdomain, actor (id and name as recorded) and action, with the number
-- of records. Every record counts once (a CSV row with an API twin is left out), the system
-- actor's included. Incremental: the changed (account, local date) pairs are counted again.
{{ config(
    unique_key=['activity_date', 'subdomain', 'actor_id', 'actor_name', 'action'],
    pre_hook="{{ zendesk_audit.delete_changed_days('activity_date') }}",
) }}

with audit_logs as (
    select * from {{ ref('int_audit_logs_deduplicated') }}
    {% if is_incremental() -%}
    where {{ zendesk_audit.in_changed_days(zendesk_audit.changed_days(), 'cast(created_at_local as date)', 'created_at') }}
    {%- endif %}
),

counted as (
    select
        cast(created_at_local as date) as activity_date,
        subdomain,
        actor_id,
        actor_name,
        action,
        count(*) as changes
    from audit_logs
    group by
        cast(created_at_local as date),
        subdomain,
        actor_id,
        actor_name,
        action
)

select * from counted
