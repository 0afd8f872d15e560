-- version: 1
-- Every record with its local date, ISO weekday and minute of day, and why it falls outside
-- business hours (null when inside). Precedence: weekend (no hours that weekday), holiday,
-- before_hours (before the day's first opening), after_hours (after closing, or between shifts).
with audit_logs as (
    select * from {{ ref('stg_audit_logs') }}
),

business_hours as (
    select * from {{ ref('int_business_hours_prepared') }}
),

holidays as (
    select * from {{ seed('holidays') }}
),

local_parts as (
    select
        id as audit_log_id,
        cast(created_at_local as date) as local_date,
        cast(extract(isodow from created_at_local) as integer) as local_iso_weekday,
        cast(extract(hour from created_at_local) as integer) * 60
            + cast(extract(minute from created_at_local) as integer) as local_minute_of_day
    from audit_logs
),

opening_days as (
    select
        iso_weekday,
        min(opens_minute) as first_opens_minute
    from business_hours
    group by iso_weekday
),

inside_hours as (
    select distinct
        local_parts.audit_log_id
    from local_parts
    inner join business_hours
        on business_hours.iso_weekday = local_parts.local_iso_weekday
        and local_parts.local_minute_of_day >= business_hours.opens_minute
        and local_parts.local_minute_of_day < business_hours.closes_minute
),

classified as (
    select
        local_parts.audit_log_id,
        local_parts.local_iso_weekday,
        local_parts.local_minute_of_day,
        holidays.holiday_name,
        case
            when opening_days.iso_weekday is null then 'weekend'
            when holidays.holiday_date is not null then 'holiday'
            when inside_hours.audit_log_id is not null then null
            when local_parts.local_minute_of_day < opening_days.first_opens_minute then 'before_hours'
            else 'after_hours'
        end as off_hours_reason,
        local_parts.local_date
    from local_parts
    left join opening_days
        on opening_days.iso_weekday = local_parts.local_iso_weekday
    left join holidays
        on holidays.holiday_date = local_parts.local_date
    left join inside_hours
        on inside_hours.audit_log_id = local_parts.audit_log_id
)

select * from classified
