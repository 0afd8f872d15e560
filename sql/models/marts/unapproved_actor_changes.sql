-- Records by people (not the system actor) whose actor_id is not in seed approved_actors for their
-- account (a row without a subdomain approves the actor in every account). Empty while that seed
-- is empty: no list, no findings.
{{ config(
    unique_key=['subdomain', 'audit_log_id'],
    pre_hook="{{ zendesk_audit.delete_changed_days('cast(created_at_local as date)', 'created_at') }}",
) }}

with audit_logs as (
    select * from {{ ref('int_audit_logs_deduplicated') }}
    {% if is_incremental() -%}
    where {{ zendesk_audit.in_changed_days(zendesk_audit.changed_days(), 'cast(created_at_local as date)', 'created_at') }}
    {%- endif %}
),

approved_actors as (
    select * from {{ ref('approved_actors') }}
),

approved_count as (
    select count(*) as approved_actors from approved_actors
),

unapproved as (
    select
        audit_logs.audit_log_id,
        audit_logs.subdomain,
        audit_logs.actor_id,
        audit_logs.source_id,
        audit_logs.actor_name,
        audit_logs.action,
        audit_logs.source_type,
        audit_logs.source_label,
        audit_logs.change_description_text,
        audit_logs.ip_address,
        audit_logs.created_at,
        audit_logs.created_at_local
    from audit_logs
    cross join approved_count
    where approved_count.approved_actors > 0
        and not audit_logs.is_system
        and not exists (
            select 1 from approved_actors
            where approved_actors.actor_id = audit_logs.actor_id
                and ({{ zendesk_audit.empty_as_null('approved_actors.subdomain') }} is null or approved_actors.subdomain = audit_logs.subdomain)
        )
)

select * from unapproved
