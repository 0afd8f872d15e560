-- Every record with its local date, ISO weekday and minute of day, and why it falls outside
-- business hours (null when inside). Precedence: weekend (no hours that weekday), holiday,
-- before_hours (before the day's first opening), after_hours (after closing, or between shifts).
with audit_logs as (
    select * from {{ ref('int_audit_logs_deduplicated') }}
),

business_minutes as (
    select * from {{ ref('int_business_hours_minutes_expanded') }}
),

holidays as (
    select * from {{ ref('holidays') }}
),

local_parts as (
    select
        audit_logs.*,
        cast(created_at_local as date) as local_date,
        {{ zendesk_audit.iso_weekday('created_at_local') }} as local_iso_weekday,
        cast(extract(hour from created_at_local) as integer) * 60
            + cast(extract(minute from created_at_local) as integer) as local_minute_of_day
    from audit_logs
),

classified as (
    select
        local_parts.*,
        {{ zendesk_audit.empty_as_null('holidays.holiday_name') }} as holiday_name,
        case
            when not business_minutes.is_working_day then 'weekend'
            when holidays.holiday_date is not null then 'holiday'
            when business_minutes.is_open then null
            when local_parts.local_minute_of_day < business_minutes.first_opens_minute then 'before_hours'
            else 'after_hours'
        end as off_hours_reason
    from local_parts
    inner join business_minutes
        on business_minutes.iso_weekday = local_parts.local_iso_weekday
        and business_minutes.minute_of_day = local_parts.local_minute_of_day
    left join holidays
        on holidays.holiday_date = local_parts.local_date
)

select * from classified
