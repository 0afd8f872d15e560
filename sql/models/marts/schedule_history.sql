-- Each Zendesk schedule's business hours over time, from the workweek changes in the audit log
-- (int_schedule_versions reads every encoding: Ruby hash, HTML-escaped once or twice, JSON).
-- One row per schedule version, weekday and open interval; a weekday without hours has one row
-- with interval_number 0 and no times, so each version keeps its 7 weekdays (a version closed all
-- week too). version_number 0 is the schedule before its first recorded change (valid_from null).
-- Incremental: a new workweek record ends the previous version (its valid_to), so the schedules
-- that new loads touched are deleted and inserted again from all their records (a few rows each).
{{ config(
    unique_key=['subdomain', 'schedule_id', 'version_number', 'weekday', 'interval_number'],
    pre_hook="{{ zendesk_audit.delete_changed_schedules() }}",
) }}

-- depends_on: {{ ref('int_audit_logs_deduplicated') }} (the changed schedules come from it)
with versions as (
    select * from {{ ref('int_schedule_versions') }}
    {% if is_incremental() -%}
    where schedule_id in ({{ zendesk_audit.changed_schedules('source_id') }})
    {%- endif %}
),

intervals as (
    select * from {{ ref('int_schedule_workweek_intervals') }}
),

history as (
    select
        versions.subdomain,
        versions.schedule_id,
        versions.version_number,
        cast(intervals.iso_weekday as integer) as weekday,
        cast(intervals.interval_number as integer) as interval_number,
        versions.audit_log_id,
        versions.actor_id,
        versions.schedule_name,
        intervals.weekday_name,
        intervals.opens_at,
        intervals.closes_at,
        versions.actor_name,
        cast(intervals.opens_at_minute as integer) as opens_at_minute,
        cast(intervals.closes_at_minute as integer) as closes_at_minute,
        versions.valid_to is null as is_current,
        versions.valid_from,
        versions.valid_to
    from versions
    inner join intervals
        on intervals.workweek = versions.workweek
),

final as (
    select * from history
    order by subdomain, schedule_id, version_number, weekday, interval_number
)

select * from final
