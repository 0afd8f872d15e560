-- version: 1
-- One row per record and matching rule of sql/seeds/sensitive_rules.csv. A rule matches when
-- every pattern it sets matches (SQL LIKE, case-insensitive) the source_type, action, label and
-- decoded description; empty patterns match anything.
with audit_logs as (
    select * from {{ ref('stg_audit_logs') }}
),

sensitive_rules as (
    select * from {{ seed('sensitive_rules') }}
),

matched as (
    select
        audit_logs.id as audit_log_id,
        sensitive_rules.rule_id,
        audit_logs.subdomain,
        audit_logs.actor_id,
        audit_logs.source_id,
        sensitive_rules.severity,
        case sensitive_rules.severity
            when 'low' then 1
            when 'medium' then 2
            when 'high' then 3
            when 'critical' then 4
        end as severity_rank,
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
)

select * from matched
