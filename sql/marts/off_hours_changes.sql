-- version: 2
-- One row per record made by a person (not the system actor) outside business hours
-- (sql/seeds/business_hours.csv, sql/seeds/holidays.csv), in local time, with off_hours_reason
-- in weekend, holiday, before_hours, after_hours. Sign-ins count: an off-hours sign-in matters.
-- time_zone_source says whose clock "off hours" was read on: utc_fallback means UTC, not the account's.
with audit_logs as (
    select * from {{ ref('stg_audit_logs') }}
),

classified as (
    select * from {{ ref('int_audit_logs_business_hours_classified') }}
),

off_hours as (
    select
        audit_logs.id as audit_log_id,
        audit_logs.subdomain,
        audit_logs.actor_id,
        audit_logs.source_id,
        audit_logs.actor_name,
        audit_logs.action,
        audit_logs.source_type,
        audit_logs.source_label,
        audit_logs.change_description_text,
        audit_logs.ip_address,
        classified.off_hours_reason,
        classified.holiday_name,
        audit_logs.time_zone,
        audit_logs.time_zone_source,
        classified.local_iso_weekday,
        classified.local_minute_of_day,
        classified.local_date,
        audit_logs.created_at,
        audit_logs.created_at_local
    from audit_logs
    inner join classified
        on classified.audit_log_id = audit_logs.id
    where not audit_logs.is_system
        and classified.off_hours_reason is not null
)

select * from off_hours
