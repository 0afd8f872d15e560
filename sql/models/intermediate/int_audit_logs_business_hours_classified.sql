-- Every record with its local date, ISO weekday and minute of day, the business hours it is
-- judged against, and why it falls outside them (null when inside). The business hours: the
-- account's own schedule as it was when the record was made (int_account_schedule_periods;
-- business_hours_source 'zendesk_schedules'), else the seed business_hours ('seed': accounts
-- without workweek records, and records before the schedule's first known version). Holidays
-- come from the seed either way. Precedence: weekend (no hours that weekday), holiday,
-- before_hours (before the day's first opening), after_hours (after closing, or between shifts).
with audit_logs as (
    select * from {{ ref('int_audit_logs_deduplicated') }}
),

periods as (
    select * from {{ ref('int_account_schedule_periods') }}
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

-- A period is valid from its first change (inclusive) to the next change (exclusive).
scheduled as (
    select
        local_parts.*,
        case when periods.subdomain is null then 'seed' else 'zendesk_schedules' end as business_hours_source,
        periods.schedule_id as business_hours_schedule_id,
        periods.schedule_name as business_hours_schedule_name,
        coalesce(periods.workweek, 'seed') as business_hours_key
    from local_parts
    left join periods
        on periods.subdomain = local_parts.subdomain
        and (periods.valid_from is null or periods.valid_from <= local_parts.created_at)
        and (periods.valid_to is null or local_parts.created_at < periods.valid_to)
),

classified as (
    select
        scheduled.*,
        {{ zendesk_audit.empty_as_null('holidays.holiday_name') }} as holiday_name,
        case
            when not business_minutes.is_working_day then 'weekend'
            when holidays.holiday_date is not null then 'holiday'
            when business_minutes.is_open then null
            when scheduled.local_minute_of_day < business_minutes.first_opens_minute then 'before_hours'
            else 'after_hours'
        end as off_hours_reason
    from scheduled
    inner join business_minutes
        on business_minutes.business_hours_key = scheduled.business_hours_key
        and business_minutes.iso_weekday = scheduled.local_iso_weekday
        and business_minutes.minute_of_day = scheduled.local_minute_of_day
    left join holidays
        on holidays.holiday_date = scheduled.local_date
)

select * from classified
