-- One row per `X changed from A to B` line of a description (subdomain, audit_log_id, line_number):
-- multi-line descriptions give several rows; the values are HTML-decoded text as Zendesk wrote it.
{{ config(
    unique_key=['subdomain', 'audit_log_id', 'line_number'],
    pre_hook="{{ zendesk_audit.delete_changed_days('cast(created_at_local as date)', 'created_at') }}",
) }}

-- depends_on: {{ ref('int_audit_logs_deduplicated') }} (the changed days come from it)
with changes as (
    select * from {{ ref('int_audit_log_changes_parsed') }}
    {% if is_incremental() -%}
    where {{ zendesk_audit.in_changed_days(zendesk_audit.changed_days(), 'cast(created_at_local as date)', 'created_at') }}
    {%- endif %}
),

described as (
    select
        audit_log_id,
        line_number,
        subdomain,
        source_id,
        actor_id,
        attribute,
        old_value,
        new_value,
        source_type,
        source_label,
        action,
        actor_name,
        is_system,
        created_at,
        created_at_local
    from changes
)

select * from described
