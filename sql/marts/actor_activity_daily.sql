-- version: 1
-- One row per local date, subdomain, actor (id and name as recorded) and action, with the number
-- of records. Every record counts once, the system actor's included.
with audit_logs as (
    select * from {{ ref('stg_audit_logs') }}
),

counted as (
    select
        cast(created_at_local as date) as activity_date,
        subdomain,
        actor_id,
        actor_name,
        action,
        count(*) as changes
    from audit_logs
    group by
        cast(created_at_local as date),
        subdomain,
        actor_id,
        actor_name,
        action
)

select * from counted
