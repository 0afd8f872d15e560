-- Each distinct workweek of int_schedule_versions (its compact text, macros/schedules.sql) as
-- weekdays and open intervals in minutes: one row per workweek, weekday and interval, and one row
-- with interval_number 0 (no times) for a weekday without hours, so every workweek keeps its 7
-- days (a workweek closed all week too). split_part over generated numbers is portable where
-- unnest/explode are not; no regular expressions.
with versions as (
    select * from {{ ref('int_schedule_versions') }}
),

digits as (
    {{ zendesk_audit.digits() }}
),

interval_numbers as (
    select
        tens.digit * 10 + ones.digit as interval_number
    from digits as tens
    cross join digits as ones
),

weekdays as (
    select 1 as iso_weekday, 'mon' as weekday_key, 'monday' as weekday_name
    union all select 2, 'tue', 'tuesday'
    union all select 3, 'wed', 'wednesday'
    union all select 4, 'thu', 'thursday'
    union all select 5, 'fri', 'friday'
    union all select 6, 'sat', 'saturday'
    union all select 7, 'sun', 'sunday'
),

workweeks as (
    select distinct workweek from versions
),

-- `mon@09:00-12:00,13:00-17:00;...`: the text after `mon@`, up to its `;`.
day_starts as (
    select
        workweeks.workweek,
        weekdays.iso_weekday,
        weekdays.weekday_name,
        {{ dbt.position("weekdays.weekday_key || '@'", 'workweeks.workweek') }} as day_position
    from workweeks
    cross join weekdays
),

day_rests as (
    select
        workweek,
        iso_weekday,
        weekday_name,
        case when day_position > 0 then substr(workweek, day_position + 4) else '' end as day_rest
    from day_starts
),

days as (
    select
        workweek,
        iso_weekday,
        weekday_name,
        case
            when {{ dbt.position("';'", 'day_rest') }} > 0
                then substr(day_rest, 1, {{ dbt.position("';'", 'day_rest') }} - 1)
            else day_rest
        end as day_intervals
    from day_rests
),

counted as (
    select
        days.*,
        case
            when day_intervals = '' then 0
            else length(day_intervals) - length(replace(day_intervals, ',', '')) + 1
        end as interval_count
    from days
),

intervals as (
    select
        counted.workweek,
        counted.iso_weekday,
        counted.weekday_name,
        interval_numbers.interval_number,
        case
            when interval_numbers.interval_number > 0
                then {{ zendesk_audit.nth_part('counted.day_intervals', ',', 'interval_numbers.interval_number') }}
        end as interval_text
    from counted
    inner join interval_numbers
        on interval_numbers.interval_number between 1 and counted.interval_count
        or (interval_numbers.interval_number = 0 and counted.interval_count = 0)
),

-- `09:00-17:00` -> '09:00', '17:00'; anything else (a closed day) -> null.
times as (
    select
        intervals.*,
        case
            when interval_text like '%_:__-%_:__'
                then substr(interval_text, 1, {{ dbt.position("'-'", 'interval_text') }} - 1)
        end as opens_at,
        case
            when interval_text like '%_:__-%_:__'
                then substr(interval_text, {{ dbt.position("'-'", 'interval_text') }} + 1)
        end as closes_at
    from intervals
),

final as (
    select
        workweek,
        iso_weekday,
        weekday_name,
        interval_number,
        opens_at,
        closes_at,
        cast(substr(opens_at, 1, {{ dbt.position("':'", 'opens_at') }} - 1) as integer) * 60
            + cast(substr(opens_at, {{ dbt.position("':'", 'opens_at') }} + 1) as integer) as opens_at_minute,
        cast(substr(closes_at, 1, {{ dbt.position("':'", 'closes_at') }} - 1) as integer) * 60
            + cast(substr(closes_at, {{ dbt.position("':'", 'closes_at') }} + 1) as integer) as closes_at_minute
    from times
)

select * from final
