-- For each incident of seed incidents, every record in [started_at - lookback_hours, started_at]
-- (both ends included; lookback_hours defaults to 24), with how long before the incident it happened.
{{ config(
    unique_key=['incident_id', 'subdomain', 'audit_log_id'],
    pre_hook="{{ zendesk_audit.delete_changed_days('cast(created_at_local as date)', 'created_at') }}",
) }}

with audit_logs as (
    select * from {{ ref('int_audit_logs_deduplicated') }}
    {% if is_incremental() -%}
    where {{ zendesk_audit.in_changed_days(zendesk_audit.changed_days(), 'cast(created_at_local as date)', 'created_at') }}
    {%- endif %}
),

incidents as (
    select * from {{ ref('incidents') }}
),

windowed as (
    select
        incidents.incident_id,
        audit_logs.audit_log_id,
        audit_logs.subdomain,
        audit_logs.actor_id,
        audit_logs.source_id,
        {{ zendesk_audit.empty_as_null('incidents.title') }} as incident_title,
        audit_logs.actor_name,
        audit_logs.action,
        audit_logs.source_type,
        audit_logs.source_label,
        audit_logs.change_description_text,
        coalesce(incidents.lookback_hours, 24) as lookback_hours,
        {{ zendesk_audit.epoch_seconds('incidents.started_at') }}
            - {{ zendesk_audit.epoch_seconds('audit_logs.created_at') }} as seconds_before_incident,
        audit_logs.is_system,
        incidents.started_at as incident_started_at,
        audit_logs.created_at,
        audit_logs.created_at_local
    from incidents
    inner join audit_logs
        on audit_logs.created_at >= {{ dbt.dateadd('hour', '-1 * coalesce(incidents.lookback_hours, 24)', 'incidents.started_at') }}
        and audit_logs.created_at <= incidents.started_at
),

final as (
    select
        *,
        cast(floor(seconds_before_incident / 60.0) as integer) as minutes_before_incident
    from windowed
)

select * from final
