-- Every minute of the week (7 x 1,440 rows) of each set of business hours (the seed's, and each
-- workweek of the accounts' schedules: int_business_hours_prepared) with whether the hours cover
-- it and the day's first opening: records then find their minute with one equality join, on
-- every engine.
with business_hours as (
    select * from {{ ref('int_business_hours_prepared') }}
),

digits as (
    {{ zendesk_audit.digits() }}
),

minutes_of_day as (
    select
        thousands.digit * 1000 + hundreds.digit * 100 + tens.digit * 10 + ones.digit as minute_of_day
    from digits as thousands
    cross join digits as hundreds
    cross join digits as tens
    cross join digits as ones
    where thousands.digit * 1000 + hundreds.digit * 100 + tens.digit * 10 + ones.digit < 1440
),

weekdays as (
    select digit as iso_weekday from digits
    where digit between 1 and 7
),

-- The seed's set always, even when the seed has no rows (then every day is off hours).
business_hours_sets as (
    select 'seed' as business_hours_key
    union
    select business_hours_key from business_hours
),

opening_days as (
    select
        business_hours_key,
        iso_weekday,
        min(opens_minute) as first_opens_minute
    from business_hours
    where opens_minute is not null
    group by
        business_hours_key,
        iso_weekday
),

open_minutes as (
    select distinct
        business_hours.business_hours_key,
        business_hours.iso_weekday,
        minutes_of_day.minute_of_day
    from business_hours
    inner join minutes_of_day
        on minutes_of_day.minute_of_day >= business_hours.opens_minute
        and minutes_of_day.minute_of_day < business_hours.closes_minute
),

expanded as (
    select
        business_hours_sets.business_hours_key,
        weekdays.iso_weekday,
        minutes_of_day.minute_of_day,
        opening_days.first_opens_minute,
        opening_days.iso_weekday is not null as is_working_day,
        open_minutes.minute_of_day is not null as is_open
    from business_hours_sets
    cross join weekdays
    cross join minutes_of_day
    left join opening_days
        on opening_days.business_hours_key = business_hours_sets.business_hours_key
        and opening_days.iso_weekday = weekdays.iso_weekday
    left join open_minutes
        on open_minutes.business_hours_key = business_hours_sets.business_hours_key
        and open_minutes.iso_weekday = weekdays.iso_weekday
        and open_minutes.minute_of_day = minutes_of_day.minute_of_day
)

select * from expanded
