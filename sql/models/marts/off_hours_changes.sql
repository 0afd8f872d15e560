-- One row per record made by a person (not the system actor) outside business hours (seeds
-- business_hours, holidays), in local time, with off_hours_reason in weekend, holiday,
-- before_hours, after_hours. Sign-ins count: an off-hours sign-in matters. time_zone_source says
-- whose clock "off hours" was read on: utc_fallback means UTC, not the account's.
{{ config(
    unique_key=['subdomain', 'audit_log_id'],
    pre_hook="{{ zendesk_audit.delete_changed_days('local_date', 'created_at') }}",
) }}

-- depends_on: {{ ref('int_audit_logs_deduplicated') }} (the changed days come from it)
with classified as (
    select * from {{ ref('int_audit_logs_business_hours_classified') }}
    {% if is_incremental() -%}
    where {{ zendesk_audit.in_changed_days(zendesk_audit.changed_days(), 'local_date', 'created_at') }}
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
