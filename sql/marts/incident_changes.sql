-- version: 1
-- For each incident of sql/seeds/incidents.csv, every record in
-- [started_at - lookback_hours, started_at] (both ends included; lookback_hours defaults to 24),
-- with how long before the incident it happened.
with audit_logs as (
    select * from {{ ref('stg_audit_logs') }}
),

incidents as (
    select * from {{ seed('incidents') }}
),

windowed as (
    select
        incidents.incident_id,
        audit_logs.id as audit_log_id,
        audit_logs.subdomain,
        audit_logs.actor_id,
        audit_logs.source_id,
        incidents.title as incident_title,
        audit_logs.actor_name,
        audit_logs.action,
        audit_logs.source_type,
        audit_logs.source_label,
        audit_logs.change_description_text,
        incidents.lookback_hours,
        cast(extract(epoch from incidents.started_at) as bigint)
            - cast(extract(epoch from audit_logs.created_at) as bigint) as seconds_before_incident,
        audit_logs.is_system,
        incidents.started_at as incident_started_at,
        audit_logs.created_at,
        audit_logs.created_at_local
    from incidents
    inner join audit_logs
        on audit_logs.created_at >= incidents.started_at - incidents.lookback_hours * interval '1 hour'
        and audit_logs.created_at <= incidents.started_at
),

final as (
    select
        *,
        cast(floor(seconds_before_incident / 60.0) as integer) as minutes_before_incident
    from windowed
)

select * from final
