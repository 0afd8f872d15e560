-- The business-hours seed with ISO weekday numbers (1 = Monday) and minutes after midnight.
with business_hours as (
    select * from {{ ref('business_hours') }}
),

prepared as (
    select
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
)

select * from prepared
