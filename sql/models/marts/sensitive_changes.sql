-- One row per record and matching detection rule. The rules are Sigma files (sql/detections/*.yml
-- and the team's folder), compiled per engine to one SQL condition each (models/detection_sql.py):
-- `zendesk-audit models build` passes them as the var zendesk_audit_detections; under plain dbt
-- the shipped rules' conditions come from the generated macro shipped_detections. Each rule's
-- title, level and ATT&CK techniques come from seed detection_rules (written from the same files),
-- severity_rank from seed severities.
{{ config(
    unique_key=['subdomain', 'audit_log_id', 'rule_id'],
    pre_hook="{{ zendesk_audit.delete_changed_days('cast(created_at_local as date)', 'created_at') }}",
) }}
{%- set detections = var('zendesk_audit_detections', none) -%}
{%- if detections is none -%}
    {%- set detections = zendesk_audit.shipped_detections(target.type) if execute else [] -%}
{%- endif %}

with audit_logs as (
    select * from {{ ref('int_audit_logs_deduplicated') }}
    {% if is_incremental() -%}
    where {{ zendesk_audit.in_changed_days(zendesk_audit.changed_days(), 'cast(created_at_local as date)', 'created_at') }}
    {%- endif %}
),

-- One branch per rule: a record appears once for each rule whose condition holds.
fired as (
    {%- for detection in detections %}
    select audit_logs.*, '{{ detection.rule_id }}' as rule_id
    from audit_logs
    where {{ detection.condition }}
    {%- if not loop.last %}
    union all
    {%- endif %}
    {%- endfor %}
    {%- if not detections %}
    select audit_logs.*, cast(null as {{ dbt.type_string() }}) as rule_id
    from audit_logs
    where 1 = 0
    {%- endif %}
),

detection_rules as (
    select * from {{ ref('detection_rules') }}
),

severities as (
    select * from {{ ref('severities') }}
),

matched as (
    select
        fired.audit_log_id,
        fired.rule_id,
        fired.subdomain,
        fired.actor_id,
        fired.source_id,
        detection_rules.severity,
        severities.severity_rank,
        detection_rules.title as rule_title,
        detection_rules.mitre_techniques,
        detection_rules.sigma_id,
        fired.actor_name,
        fired.action,
        fired.source_type,
        fired.source_label,
        fired.change_description_text,
        fired.ip_address,
        fired.is_system,
        fired.created_at,
        fired.created_at_local
    from fired
    inner join detection_rules
        on detection_rules.rule_id = fired.rule_id
    inner join severities
        on severities.severity = detection_rules.severity
)

select * from matched
