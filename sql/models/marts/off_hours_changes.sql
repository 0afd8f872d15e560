-- One row per record made by a person (not the system actor) outside business hours, in local
-- time, with off_hours_reason in weekend, holiday, before_hours, after_hours. Sign-ins count: an
-- off-hours sign-in matters. business_hours_source says whose hours: the account's own Zendesk
-- schedule as it was then ('zendesk_schedules', named in business_hours_schedule_name) or the
-- seed business_hours ('seed'); holidays are the seed's. time_zone_source says whose clock "off
-- hours" was read on: utc_fallback means UTC, not the account's.
-- Incremental: the changed days, and every day of an account whose schedule a new load changed.
{{ config(
    unique_key=['subdomain', 'audit_log_id'],
    pre_hook="{{ zendesk_audit.delete_changed_days('local_date', 'created_at', rescheduled_accounts=true) }}",
) }}

-- depends_on: {{ ref('int_audit_logs_deduplicated') }} (the changed days come from it)
with classified as (
    select * from {{ ref('int_audit_logs_business_hours_classified') }}
    {% if is_incremental() -%}
    where {{ zendesk_audit.in_changed_days(zendesk_audit.changed_days(), 'local_date', 'created_at', rescheduled_accounts=true) }}
    {%- endif %}
),

off_hours as (
    select
        audit_log_id,
        subdomain,
        actor_id,
        source_id,
        actor_name,
        action,
        source_type,
        source_label,
        change_description_text,
        ip_address,
        off_hours_reason,
        holiday_name,
        business_hours_source,
        business_hours_schedule_id,
        business_hours_schedule_name,
        time_zone,
        time_zone_source,
        local_iso_weekday,
        local_minute_of_day,
        local_date,
        created_at,
        created_at_local
    from classified
    where not is_system
        and off_hours_reason is not null
)

select * from off_hours
