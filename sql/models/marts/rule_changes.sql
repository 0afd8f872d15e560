-- One row per change to a business rule (source_type rule, trigger, automation, macro, view,
-- sla/policy; for CSV rows inferred from the label). rule_kind is the lower-cased label prefix
-- before the first `: ` (trigger, automation, macro, view, sla policy), else the source_type;
-- rule_name is the label after it.
{{ config(
    unique_key=['subdomain', 'audit_log_id'],
    pre_hook="{{ zendesk_audit.delete_changed_days('cast(created_at_local as date)', 'created_at') }}",
) }}

with audit_logs as (
    select * from {{ ref('int_audit_logs_deduplicated') }}
    {% if is_incremental() -%}
    where {{ zendesk_audit.in_changed_days(zendesk_audit.changed_days(), 'cast(created_at_local as date)', 'created_at') }}
    {%- endif %}
),

rules as (
    select
        *,
        {{ dbt.position("': '", "coalesce(source_label, '')") }} as label_separator
    from audit_logs
    where source_type in ('rule', 'trigger', 'automation', 'macro', 'view', 'sla/policy')
),

named as (
    select
        audit_log_id,
        subdomain,
        source_id as rule_source_id,
        actor_id,
        case
            when label_separator > 0 then lower(substr(source_label, 1, label_separator - 1))
            else source_type
        end as rule_kind,
        case
            when label_separator > 0 then substr(source_label, label_separator + 2)
            else source_label
        end as rule_name,
        source_type,
        source_label,
        action,
        actor_name,
        change_description_text,
        is_system,
        created_at,
        created_at_local
    from rules
)

select * from named
