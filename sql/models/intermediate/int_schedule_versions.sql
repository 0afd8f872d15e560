-- Each schedule's workweek, version by version, from its audit-log records (source_type
-- `zendesk/business_hours/workweek`, description "Workweek changed from {...} to {...}" in any of
-- Zendesk's encodings: see macros/schedules.sql). Version n (1, 2, ...) is the "to" side of the
-- schedule's n-th change, valid from that change until the next one (valid_to null: current).
-- Version 0 is the "from" side of the first recorded change, valid before it (valid_from null):
-- the schedule as it was before the log shows it change. A first change from `{}` (Zendesk writes
-- that when a schedule is created) has no version 0: the schedule did not exist before.
-- Only records with an item id (API records; Admin Center CSV rows have none) and a description
-- with both sides as hashes count.
with audit_logs as (
    select * from {{ ref('int_audit_logs_deduplicated') }}
),

workweek_records as (
    select
        audit_log_id,
        subdomain,
        source_id as schedule_id,
        actor_id,
        case
            when lower(source_label) like 'workweek: %' then substr(source_label, 11)
            else source_label
        end as schedule_name,
        actor_name,
        lower(change_description_text) as description,
        created_at
    from audit_logs
    where source_type = 'zendesk/business_hours/workweek'
        and source_id is not null
        and lower(change_description_text) like {{ "'% from {%} to {%'" }}
),

after_from as (
    select
        workweek_records.*,
        substr(description, {{ dbt.position("' from '", 'description') }} + 6) as sides
    from workweek_records
),

split as (
    select
        audit_log_id,
        subdomain,
        schedule_id,
        actor_id,
        schedule_name,
        actor_name,
        trim(substr(sides, 1, {{ dbt.position("' to '", 'sides') }} - 1)) as from_side,
        trim(substr(sides, {{ dbt.position("' to '", 'sides') }} + 4)) as to_side,
        created_at
    from after_from
),

compacted as (
    select
        audit_log_id,
        subdomain,
        schedule_id,
        actor_id,
        schedule_name,
        actor_name,
        {{ zendesk_audit.workweek_compact('from_side') }} as from_workweek,
        {{ zendesk_audit.workweek_compact('to_side') }} as to_workweek,
        row_number() over (partition by subdomain, schedule_id order by created_at, audit_log_id) as change_number,
        created_at,
        lead(created_at) over (partition by subdomain, schedule_id order by created_at, audit_log_id) as next_changed_at
    from split
    where from_side like {{ "'{%}'" }}
        and to_side like {{ "'{%}'" }}
),

versions as (
    select
        subdomain,
        schedule_id,
        cast(change_number as {{ dbt.type_bigint() }}) as version_number,
        audit_log_id,
        actor_id,
        schedule_name,
        actor_name,
        to_workweek as workweek,
        created_at as valid_from,
        next_changed_at as valid_to
    from compacted
    union all
    select
        subdomain,
        schedule_id,
        cast(0 as {{ dbt.type_bigint() }}) as version_number,
        audit_log_id,
        cast(null as {{ dbt.type_bigint() }}) as actor_id,
        schedule_name,
        cast(null as {{ dbt.type_string() }}) as actor_name,
        from_workweek as workweek,
        cast(null as {{ zendesk_audit.type_timestamp_tz() }}) as valid_from,
        created_at as valid_to
    from compacted
    where change_number = 1
        and {{ zendesk_audit.workweek_has_hours('from_workweek') }}
)

select * from versions
