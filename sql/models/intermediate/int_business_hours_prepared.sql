-- Every set of business hours records are judged against, as intervals with ISO weekday numbers
-- (1 = Monday) and minutes after midnight: the seed business_hours (business_hours_key 'seed'),
-- and each workweek the accounts' own schedules had (business_hours_key: the compact workweek
-- text, int_account_schedule_periods). A schedule's weekday without hours has one row without
-- times (opens_minute null), so a workweek closed all week still has its rows.
with business_hours as (
    select * from {{ ref('business_hours') }}
),

periods as (
    select * from {{ ref('int_account_schedule_periods') }}
),

workweek_intervals as (
    select * from {{ ref('int_schedule_workweek_intervals') }}
),

seed_hours as (
    select
        'seed' as business_hours_key,
        case lower(trim(weekday))
            when 'monday' then 1
            when 'tuesday' then 2
            when 'wednesday' then 3
            when 'thursday' then 4
            when 'friday' then 5
            when 'saturday' then 6
            when 'sunday' then 7
        end as iso_weekday,
        lower(trim(weekday)) as weekday,
        opens_at,
        closes_at,
        cast(substr(opens_at, 1, 2) as integer) * 60 + cast(substr(opens_at, 4, 2) as integer) as opens_minute,
        cast(substr(closes_at, 1, 2) as integer) * 60 + cast(substr(closes_at, 4, 2) as integer) as closes_minute
    from business_hours
),

schedule_workweeks as (
    select distinct workweek from periods
),

schedule_hours as (
    select
        workweek_intervals.workweek as business_hours_key,
        workweek_intervals.iso_weekday,
        workweek_intervals.weekday_name as weekday,
        workweek_intervals.opens_at,
        workweek_intervals.closes_at,
        workweek_intervals.opens_at_minute as opens_minute,
        workweek_intervals.closes_at_minute as closes_minute
    from workweek_intervals
    inner join schedule_workweeks
        on schedule_workweeks.workweek = workweek_intervals.workweek
),

prepared as (
    select * from seed_hours
    union all
    select * from schedule_hours
)

select * from prepared
