-- One row per record and matching rule of seed sensitive_rules. A rule matches when every pattern
-- it sets matches (SQL LIKE, case-insensitive) the source_type, action, label and decoded
-- description; empty patterns match anything. severity_rank comes from seed severities.
{{ config(
    unique_key=['subdomain', 'audit_log_id', 'rule_id'],
    pre_hook="{{ zendesk_audit.delete_changed_days('cast(created_at_local as date)', 'created_at') }}",
) }}

with audit_logs as (
    select * from {{ ref('int_audit_logs_deduplicated') }}
    {% if is_incremental() -%}
    where {{ zendesk_audit.in_changed_days(zendesk_audit.changed_days(), 'cast(created_at_local as date)', 'created_at') }}
    {%- endif %}
),

sensitive_rule_seeds as (
    select * from {{ ref('sensitive_rules') }}
),

-- An empty pattern matches anything (see macro empty_as_null).
sensitive_rules as (
    select
        rule_id,
        lower(trim(severity)) as severity,
        title,
        {{ zendesk_audit.empty_as_null('source_type_pattern') }} as source_type_pattern,
        {{ zendesk_audit.empty_as_null('action_pattern') }} as action_pattern,
        {{ zendesk_audit.empty_as_null('label_pattern') }} as label_pattern,
        {{ zendesk_audit.empty_as_null('description_pattern') }} as description_pattern
    from sensitive_rule_seeds
),

severities as (
    select * from {{ ref('severities') }}
),

matched as (
    select
        audit_logs.audit_log_id,
        sensitive_rules.rule_id,
        audit_logs.subdomain,
        audit_logs.actor_id,
        audit_logs.source_id,
        sensitive_rules.severity,
        severities.severity_rank,
        sensitive_rules.title as rule_title,
        audit_logs.actor_name,
        audit_logs.action,
        audit_logs.source_type,
        audit_logs.source_label,
        audit_logs.change_description_text,
        audit_logs.ip_address,
        audit_logs.is_system,
        audit_logs.created_at,
        audit_logs.created_at_local
    from audit_logs
    inner join sensitive_rules
        on (sensitive_rules.source_type_pattern is null
            or lower(coalesce(audit_logs.source_type, '')) like lower(sensitive_rules.source_type_pattern))
        and (sensitive_rules.action_pattern is null
            or lower(coalesce(audit_logs.action, '')) like lower(sensitive_rules.action_pattern))
        and (sensitive_rules.label_pattern is null
            or lower(coalesce(audit_logs.source_label, '')) like lower(sensitive_rules.label_pattern))
        and (sensitive_rules.description_pattern is null
            or lower(coalesce(audit_logs.change_description_text, '')) like lower(sensitive_rules.description_pattern))
    inner join severities
        on severities.severity = sensitive_rules.severity
)

select * from matched
