-- The schedule whose hours count as an account's business hours, as periods of unchanged workweek.
-- Which schedule: the one var `zendesk_audit_business_hours_schedule` names (its id or its name,
-- in every account that has it); else the account's lowest schedule id: Zendesk numbers schedules
-- as they are created, and the first one created is the default schedule unless an admin reorders
-- them (which the audit log does not record). Consecutive versions with the same workweek are one
-- period, so records find their period with a short range join; its name is the schedule's name
-- when the period began (a later rename does not reach back: an incremental build re-reads only
-- the records from a new change on). An account without workweek records has no row here: its
-- business hours stay the seed's.
{%- set named = var('zendesk_audit_business_hours_schedule', none) %}
{%- set named_text = (named | string | replace("'", "''")) if named is not none else none %}
with versions as (
    select * from {{ ref('int_schedule_versions') }}
),

schedules as (
    select
        subdomain,
        schedule_id,
        max(case
            {%- if named_text is none %}
            when 1 = 0 then 1
            {%- else %}
            when cast(schedule_id as {{ dbt.type_string() }}) = '{{ named_text }}' or schedule_name = '{{ named_text }}' then 1
            {%- endif %}
            else 0
        end) as is_named
    from versions
    group by
        subdomain,
        schedule_id
),

ranked as (
    select
        subdomain,
        schedule_id,
        row_number() over (partition by subdomain order by is_named desc, schedule_id) as schedule_rank
    from schedules
),

chosen_versions as (
    select
        versions.*,
        case
            when versions.workweek = lag(versions.workweek) over schedule_versions then 0
            else 1
        end as starts_period
    from versions
    inner join ranked
        on ranked.subdomain = versions.subdomain
        and ranked.schedule_id = versions.schedule_id
        and ranked.schedule_rank = 1
    window schedule_versions as (partition by versions.subdomain, versions.schedule_id order by versions.version_number)
),

numbered as (
    select
        chosen_versions.*,
        sum(starts_period) over (
            partition by subdomain, schedule_id order by version_number rows between unbounded preceding and current row
        ) as period_number
    from chosen_versions
),

periods as (
    select
        subdomain,
        schedule_id,
        period_number,
        min(case when starts_period = 1 then schedule_name end) as schedule_name,
        max(workweek) as workweek,
        case when count(*) > count(valid_from) then null else min(valid_from) end as valid_from,
        case when count(*) > count(valid_to) then null else max(valid_to) end as valid_to
    from numbered
    group by
        subdomain,
        schedule_id,
        period_number
)

select * from periods
