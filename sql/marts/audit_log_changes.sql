-- version: 1
-- One row per `X changed from A to B` line of a description (audit_log_id, line_number):
-- multi-line descriptions give several rows; the values are HTML-decoded text as Zendesk wrote it.
with changes as (
    select * from {{ ref('int_audit_log_changes_parsed') }}
),

audit_logs as (
    select * from {{ ref('stg_audit_logs') }}
),

described as (
    select
        changes.audit_log_id,
        changes.line_number,
        audit_logs.subdomain,
        audit_logs.source_id,
        audit_logs.actor_id,
        changes.attribute,
        changes.old_value,
        changes.new_value,
        audit_logs.source_type,
        audit_logs.source_label,
        audit_logs.action,
        audit_logs.actor_name,
        audit_logs.is_system,
        audit_logs.created_at,
        audit_logs.created_at_local
    from changes
    inner join audit_logs
        on audit_logs.id = changes.audit_log_id
)

select * from described
