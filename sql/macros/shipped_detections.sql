{#- GENERATED from sql/detections/*.yml by `python -m zendesk_audit.models.detection_sql`: do not edit.
    The shipped Sigma rules compiled per engine (models/detection_sql.py), for a team that runs this
    project with plain dbt. `zendesk-audit models build` passes the var zendesk_audit_detections
    instead: the same rules plus the team's folder (--detections-dir). tests/test_detections_sql.py
    fails when this file is out of date. -#}
{% macro shipped_detections(dialect) -%}
    {%- if dialect == 'duckdb' %}
    {{ return([
        {'rule_id': "account_assumption_changed", 'condition': "(coalesce(lower(source_type) = 'account_setting', false) and coalesce(lower(source_label) like 'account assumption%' escape '\\', false))"},
        {'rule_id': "account_owner_changed", 'condition': "(coalesce(lower(change_description_text) like '%owner changed from %' escape '\\', false))"},
        {'rule_id': "api_token_changed", 'condition': "((coalesce(lower(source_type) = 'api_token', false) or coalesce(lower(source_type) = 'apitoken', false)) and coalesce(lower(action) = 'update', false))"},
        {'rule_id': "api_token_created", 'condition': "((coalesce(lower(source_type) = 'api_token', false) or coalesce(lower(source_type) = 'apitoken', false)) and coalesce(lower(action) = 'create', false))"},
        {'rule_id': "api_token_deleted", 'condition': "((coalesce(lower(source_type) = 'api_token', false) or coalesce(lower(source_type) = 'apitoken', false)) and coalesce(lower(action) = 'destroy', false))"},
        {'rule_id': "business_hours_changed", 'condition': "(coalesce(lower(source_type) like 'zendesk/business\\_hours/%' escape '\\', false))"},
        {'rule_id': "credit_card_redaction_disabled", 'condition': "(coalesce(lower(source_type) = 'account_setting', false) and coalesce(lower(source_label) like 'credit card redaction%' escape '\\', false) and coalesce(lower(change_description_text) like 'disabled%' escape '\\', false))"},
        {'rule_id': "data_exported", 'condition': "(coalesce(lower(action) = 'exported', false))"},
        {'rule_id': "permission_set_changed", 'condition': "(coalesce(lower(source_type) = 'permission_set', false))"},
        {'rule_id': "role_changed_to_admin", 'condition': "(coalesce(lower(source_type) = 'user', false) and coalesce(regexp_matches(change_description_text, '(?i)role changed from .* to [^\\n]*admin'), false))"},
        {'rule_id': "two_factor_disabled", 'condition': "(coalesce(lower(source_type) = 'account_setting', false) and coalesce(regexp_matches(source_label, '(?i)^two.?factor'), false) and coalesce(lower(change_description_text) like 'disabled%' escape '\\', false))"},
        {'rule_id': "user_suspended", 'condition': "(coalesce(lower(source_type) = 'user', false) and coalesce(lower(source_label) like 'suspension state%' escape '\\', false) and coalesce(lower(change_description_text) like 'suspended%' escape '\\', false))"},
    ]) }}
    {%- elif dialect == 'postgres' %}
    {{ return([
        {'rule_id': "account_assumption_changed", 'condition': "(coalesce(lower(source_type) = 'account_setting', false) and coalesce(lower(source_label) like 'account assumption%' escape '\\', false))"},
        {'rule_id': "account_owner_changed", 'condition': "(coalesce(lower(change_description_text) like '%owner changed from %' escape '\\', false))"},
        {'rule_id': "api_token_changed", 'condition': "((coalesce(lower(source_type) = 'api_token', false) or coalesce(lower(source_type) = 'apitoken', false)) and coalesce(lower(action) = 'update', false))"},
        {'rule_id': "api_token_created", 'condition': "((coalesce(lower(source_type) = 'api_token', false) or coalesce(lower(source_type) = 'apitoken', false)) and coalesce(lower(action) = 'create', false))"},
        {'rule_id': "api_token_deleted", 'condition': "((coalesce(lower(source_type) = 'api_token', false) or coalesce(lower(source_type) = 'apitoken', false)) and coalesce(lower(action) = 'destroy', false))"},
        {'rule_id': "business_hours_changed", 'condition': "(coalesce(lower(source_type) like 'zendesk/business\\_hours/%' escape '\\', false))"},
        {'rule_id': "credit_card_redaction_disabled", 'condition': "(coalesce(lower(source_type) = 'account_setting', false) and coalesce(lower(source_label) like 'credit card redaction%' escape '\\', false) and coalesce(lower(change_description_text) like 'disabled%' escape '\\', false))"},
        {'rule_id': "data_exported", 'condition': "(coalesce(lower(action) = 'exported', false))"},
        {'rule_id': "permission_set_changed", 'condition': "(coalesce(lower(source_type) = 'permission_set', false))"},
        {'rule_id': "role_changed_to_admin", 'condition': "(coalesce(lower(source_type) = 'user', false) and coalesce(change_description_text ~ '(?ip)role changed from .* to [^\\n]*admin', false))"},
        {'rule_id': "two_factor_disabled", 'condition': "(coalesce(lower(source_type) = 'account_setting', false) and coalesce(source_label ~ '(?ip)^two.?factor', false) and coalesce(lower(change_description_text) like 'disabled%' escape '\\', false))"},
        {'rule_id': "user_suspended", 'condition': "(coalesce(lower(source_type) = 'user', false) and coalesce(lower(source_label) like 'suspension state%' escape '\\', false) and coalesce(lower(change_description_text) like 'suspended%' escape '\\', false))"},
    ]) }}
    {%- elif dialect == 'spark' %}
    {{ return([
        {'rule_id': "account_assumption_changed", 'condition': "(coalesce(lower(source_type) = 'account_setting', false) and coalesce(lower(source_label) like 'account assumption%' escape '\\\\', false))"},
        {'rule_id': "account_owner_changed", 'condition': "(coalesce(lower(change_description_text) like '%owner changed from %' escape '\\\\', false))"},
        {'rule_id': "api_token_changed", 'condition': "((coalesce(lower(source_type) = 'api_token', false) or coalesce(lower(source_type) = 'apitoken', false)) and coalesce(lower(action) = 'update', false))"},
        {'rule_id': "api_token_created", 'condition': "((coalesce(lower(source_type) = 'api_token', false) or coalesce(lower(source_type) = 'apitoken', false)) and coalesce(lower(action) = 'create', false))"},
        {'rule_id': "api_token_deleted", 'condition': "((coalesce(lower(source_type) = 'api_token', false) or coalesce(lower(source_type) = 'apitoken', false)) and coalesce(lower(action) = 'destroy', false))"},
        {'rule_id': "business_hours_changed", 'condition': "(coalesce(lower(source_type) like 'zendesk/business\\\\_hours/%' escape '\\\\', false))"},
        {'rule_id': "credit_card_redaction_disabled", 'condition': "(coalesce(lower(source_type) = 'account_setting', false) and coalesce(lower(source_label) like 'credit card redaction%' escape '\\\\', false) and coalesce(lower(change_description_text) like 'disabled%' escape '\\\\', false))"},
        {'rule_id': "data_exported", 'condition': "(coalesce(lower(action) = 'exported', false))"},
        {'rule_id': "permission_set_changed", 'condition': "(coalesce(lower(source_type) = 'permission_set', false))"},
        {'rule_id': "role_changed_to_admin", 'condition': "(coalesce(lower(source_type) = 'user', false) and coalesce(change_description_text rlike '(?diu)role changed from .* to [^\\\\n]*admin', false))"},
        {'rule_id': "two_factor_disabled", 'condition': "(coalesce(lower(source_type) = 'account_setting', false) and coalesce(source_label rlike '(?diu)^two.?factor', false) and coalesce(lower(change_description_text) like 'disabled%' escape '\\\\', false))"},
        {'rule_id': "user_suspended", 'condition': "(coalesce(lower(source_type) = 'user', false) and coalesce(lower(source_label) like 'suspension state%' escape '\\\\', false) and coalesce(lower(change_description_text) like 'suspended%' escape '\\\\', false))"},
    ]) }}
    {%- elif dialect == 'databricks' %}
    {{ return([
        {'rule_id': "account_assumption_changed", 'condition': "(coalesce(lower(source_type) = 'account_setting', false) and coalesce(lower(source_label) like 'account assumption%' escape '\\\\', false))"},
        {'rule_id': "account_owner_changed", 'condition': "(coalesce(lower(change_description_text) like '%owner changed from %' escape '\\\\', false))"},
        {'rule_id': "api_token_changed", 'condition': "((coalesce(lower(source_type) = 'api_token', false) or coalesce(lower(source_type) = 'apitoken', false)) and coalesce(lower(action) = 'update', false))"},
        {'rule_id': "api_token_created", 'condition': "((coalesce(lower(source_type) = 'api_token', false) or coalesce(lower(source_type) = 'apitoken', false)) and coalesce(lower(action) = 'create', false))"},
        {'rule_id': "api_token_deleted", 'condition': "((coalesce(lower(source_type) = 'api_token', false) or coalesce(lower(source_type) = 'apitoken', false)) and coalesce(lower(action) = 'destroy', false))"},
        {'rule_id': "business_hours_changed", 'condition': "(coalesce(lower(source_type) like 'zendesk/business\\\\_hours/%' escape '\\\\', false))"},
        {'rule_id': "credit_card_redaction_disabled", 'condition': "(coalesce(lower(source_type) = 'account_setting', false) and coalesce(lower(source_label) like 'credit card redaction%' escape '\\\\', false) and coalesce(lower(change_description_text) like 'disabled%' escape '\\\\', false))"},
        {'rule_id': "data_exported", 'condition': "(coalesce(lower(action) = 'exported', false))"},
        {'rule_id': "permission_set_changed", 'condition': "(coalesce(lower(source_type) = 'permission_set', false))"},
        {'rule_id': "role_changed_to_admin", 'condition': "(coalesce(lower(source_type) = 'user', false) and coalesce(change_description_text rlike '(?diu)role changed from .* to [^\\\\n]*admin', false))"},
        {'rule_id': "two_factor_disabled", 'condition': "(coalesce(lower(source_type) = 'account_setting', false) and coalesce(source_label rlike '(?diu)^two.?factor', false) and coalesce(lower(change_description_text) like 'disabled%' escape '\\\\', false))"},
        {'rule_id': "user_suspended", 'condition': "(coalesce(lower(source_type) = 'user', false) and coalesce(lower(source_label) like 'suspension state%' escape '\\\\', false) and coalesce(lower(change_description_text) like 'suspended%' escape '\\\\', false))"},
    ]) }}
    {%- elif dialect == 'snowflake' %}
    {{ return([
        {'rule_id': "account_assumption_changed", 'condition': "(coalesce(lower(source_type) = 'account_setting', false) and coalesce(lower(source_label) like 'account assumption%' escape '\\\\', false))"},
        {'rule_id': "account_owner_changed", 'condition': "(coalesce(lower(change_description_text) like '%owner changed from %' escape '\\\\', false))"},
        {'rule_id': "api_token_changed", 'condition': "((coalesce(lower(source_type) = 'api_token', false) or coalesce(lower(source_type) = 'apitoken', false)) and coalesce(lower(action) = 'update', false))"},
        {'rule_id': "api_token_created", 'condition': "((coalesce(lower(source_type) = 'api_token', false) or coalesce(lower(source_type) = 'apitoken', false)) and coalesce(lower(action) = 'create', false))"},
        {'rule_id': "api_token_deleted", 'condition': "((coalesce(lower(source_type) = 'api_token', false) or coalesce(lower(source_type) = 'apitoken', false)) and coalesce(lower(action) = 'destroy', false))"},
        {'rule_id': "business_hours_changed", 'condition': "(coalesce(lower(source_type) like 'zendesk/business\\\\_hours/%' escape '\\\\', false))"},
        {'rule_id': "credit_card_redaction_disabled", 'condition': "(coalesce(lower(source_type) = 'account_setting', false) and coalesce(lower(source_label) like 'credit card redaction%' escape '\\\\', false) and coalesce(lower(change_description_text) like 'disabled%' escape '\\\\', false))"},
        {'rule_id': "data_exported", 'condition': "(coalesce(lower(action) = 'exported', false))"},
        {'rule_id': "permission_set_changed", 'condition': "(coalesce(lower(source_type) = 'permission_set', false))"},
        {'rule_id': "role_changed_to_admin", 'condition': "(coalesce(lower(source_type) = 'user', false) and coalesce(regexp_instr(change_description_text, 'role changed from .* to [^\\\\n]*admin', 1, 1, 0, 'i') > 0, false))"},
        {'rule_id': "two_factor_disabled", 'condition': "(coalesce(lower(source_type) = 'account_setting', false) and coalesce(regexp_instr(source_label, '^two.?factor', 1, 1, 0, 'i') > 0, false) and coalesce(lower(change_description_text) like 'disabled%' escape '\\\\', false))"},
        {'rule_id': "user_suspended", 'condition': "(coalesce(lower(source_type) = 'user', false) and coalesce(lower(source_label) like 'suspension state%' escape '\\\\', false) and coalesce(lower(change_description_text) like 'suspended%' escape '\\\\', false))"},
    ]) }}
    {%- elif dialect == 'bigquery' %}
    {{ return([
        {'rule_id': "account_assumption_changed", 'condition': "(coalesce(lower(source_type) = 'account_setting', false) and coalesce(lower(source_label) like 'account assumption%', false))"},
        {'rule_id': "account_owner_changed", 'condition': "(coalesce(lower(change_description_text) like '%owner changed from %', false))"},
        {'rule_id': "api_token_changed", 'condition': "((coalesce(lower(source_type) = 'api_token', false) or coalesce(lower(source_type) = 'apitoken', false)) and coalesce(lower(action) = 'update', false))"},
        {'rule_id': "api_token_created", 'condition': "((coalesce(lower(source_type) = 'api_token', false) or coalesce(lower(source_type) = 'apitoken', false)) and coalesce(lower(action) = 'create', false))"},
        {'rule_id': "api_token_deleted", 'condition': "((coalesce(lower(source_type) = 'api_token', false) or coalesce(lower(source_type) = 'apitoken', false)) and coalesce(lower(action) = 'destroy', false))"},
        {'rule_id': "business_hours_changed", 'condition': "(coalesce(lower(source_type) like 'zendesk/business\\\\_hours/%', false))"},
        {'rule_id': "credit_card_redaction_disabled", 'condition': "(coalesce(lower(source_type) = 'account_setting', false) and coalesce(lower(source_label) like 'credit card redaction%', false) and coalesce(lower(change_description_text) like 'disabled%', false))"},
        {'rule_id': "data_exported", 'condition': "(coalesce(lower(action) = 'exported', false))"},
        {'rule_id': "permission_set_changed", 'condition': "(coalesce(lower(source_type) = 'permission_set', false))"},
        {'rule_id': "role_changed_to_admin", 'condition': "(coalesce(lower(source_type) = 'user', false) and coalesce(regexp_contains(change_description_text, '(?i)role changed from .* to [^\\\\n]*admin'), false))"},
        {'rule_id': "two_factor_disabled", 'condition': "(coalesce(lower(source_type) = 'account_setting', false) and coalesce(regexp_contains(source_label, '(?i)^two.?factor'), false) and coalesce(lower(change_description_text) like 'disabled%', false))"},
        {'rule_id': "user_suspended", 'condition': "(coalesce(lower(source_type) = 'user', false) and coalesce(lower(source_label) like 'suspension state%', false) and coalesce(lower(change_description_text) like 'suspended%', false))"},
    ]) }}
    {%- else %}
    {{ exceptions.raise_compiler_error('sensitive_changes: no compiled detections for ' ~ dialect ~ ': pass the var zendesk_audit_detections (see the README)') }}
    {%- endif %}
{%- endmacro %}
