{#- How an API record and an Admin Center CSV row are recognised as the same record. The CSV has no
    ids and no actor id, so records match on the account, the UTC second, the actor's name, the item
    (source_label) and the action (the CSV's English Activity type mapped to the API's action, else
    its lower-cased label); identical records of one second pair off one to one (match_number).
    Used by int_audit_logs_deduplicated and csv_api_reconciliation. -#}
{% macro match_key_columns() -%}
        coalesce(actor_name, '') as actor_key,
        coalesce(source_label, '') as item_key,
        coalesce(action, lower(action_label), '') as action_key
{%- endmacro %}

{% macro match_partition(relation_alias) -%}
    {{ relation_alias }}.subdomain,
    {{ relation_alias }}.record_source,
    {{ relation_alias }}.created_at,
    {{ relation_alias }}.actor_key,
    {{ relation_alias }}.item_key,
    {{ relation_alias }}.action_key
{%- endmacro %}

{% macro matches(left_alias, right_alias) -%}
    {{ right_alias }}.subdomain = {{ left_alias }}.subdomain
    and {{ right_alias }}.created_at = {{ left_alias }}.created_at
    and {{ right_alias }}.actor_key = {{ left_alias }}.actor_key
    and {{ right_alias }}.item_key = {{ left_alias }}.item_key
    and {{ right_alias }}.action_key = {{ left_alias }}.action_key
{%- endmacro %}
