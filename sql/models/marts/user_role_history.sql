-- One row per role change of a user: source_type `user` (for CSV rows inferred from the label or the
-- description) with a description line `Role changed from X to Y` (role_kind `role`) or
-- `Support role changed from X to Y` (role_kind `support role`).
{{ config(
    unique_key=['subdomain', 'audit_log_id', 'line_number'],
    pre_hook="{{ zendesk_audit.delete_changed_days('cast(changed_at_local as date)', 'changed_at') }}",
) }}

-- depends_on: {{ ref('int_audit_logs_deduplicated') }} (the changed days come from it)
with changes as (
    select * from {{ ref('int_audit_log_changes_parsed') }}
    {% if is_incremental() -%}
    where {{ zendesk_audit.in_changed_days(zendesk_audit.changed_days(), 'cast(created_at_local as date)', 'created_at') }}
    {%- endif %}
),

role_changes as (
    select
        audit_log_id,
        line_number,
        subdomain,
        source_id as user_id,
        actor_id,
        source_label as user_name,
        lower(attribute) as role_kind,
        old_value as old_role,
        new_value as new_role,
        actor_name,
        created_at as changed_at,
        created_at_local as changed_at_local
    from changes
    where source_type = 'user'
        and lower(attribute) in ('role', 'support role')
)

select * from role_changes
