-- version: 1
-- Records by people (not the system actor) whose actor_id is not in
-- sql/seeds/approved_actors.csv. Empty while that seed is empty: no list, no findings.
with audit_logs as (
    select * from {{ ref('stg_audit_logs') }}
),

approved_actors as (
    select * from {{ seed('approved_actors') }}
),

approved_count as (
    select count(*) as approved_actors from approved_actors
),

unapproved as (
    select
        audit_logs.id as audit_log_id,
        audit_logs.subdomain,
        audit_logs.actor_id,
        audit_logs.source_id,
        audit_logs.actor_name,
        audit_logs.action,
        audit_logs.source_type,
        audit_logs.source_label,
        audit_logs.change_description_text,
        audit_logs.ip_address,
        audit_logs.created_at,
        audit_logs.created_at_local
    from audit_logs
    cross join approved_count
    left join approved_actors
        on approved_actors.actor_id = audit_logs.actor_id
    where approved_count.approved_actors > 0
        and not audit_logs.is_system
        and approved_actors.actor_id is null
)

select * from unapproved
