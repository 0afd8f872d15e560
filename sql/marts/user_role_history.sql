-- version: 1
-- One row per role change of a user: source_type `user` with a description line
-- `Role changed from X to Y` (role_kind `role`) or `Support role changed from X to Y`
-- (role_kind `support role`).
with changes as (
    select * from {{ ref('int_audit_log_changes_parsed') }}
),

audit_logs as (
    select * from {{ ref('stg_audit_logs') }}
),

role_changes as (
    select
        changes.audit_log_id,
        changes.line_number,
        audit_logs.subdomain,
        audit_logs.source_id as user_id,
        audit_logs.actor_id,
        audit_logs.source_label as user_name,
        lower(changes.attribute) as role_kind,
        changes.old_value as old_role,
        changes.new_value as new_role,
        audit_logs.actor_name,
        audit_logs.created_at as changed_at,
        audit_logs.created_at_local as changed_at_local
    from changes
    inner join audit_logs
        on audit_logs.id = changes.audit_log_id
    where audit_logs.source_type = 'user'
        and lower(changes.attribute) in ('role', 'support role')
)

select * from role_changes
