{#- `accounts` as the models read it. Before the first API load (a dataset of CSV imports) the
    table does not exist, and rows written by versions before `time_zone_source` lack the newer
    columns: the models then read a relation with every column, empty or with nulls. -#}
{% macro accounts_relation() -%}
    {%- set accounts = source('zendesk_audit', 'accounts') -%}
    {%- set wanted = [
        ('subdomain', 'text'), ('time_zone', 'text'), ('iana_time_zone', 'text'),
        ('time_zone_source', 'text'), ('time_zone_reason', 'text'), ('loaded_at', 'timestamp'),
    ] -%}
    {%- if not execute -%}
        {{ return(accounts) }}
    {%- endif -%}
    {%- set found = adapter.get_relation(database=accounts.database, schema=accounts.schema, identifier=accounts.identifier) -%}
    {%- if found is none -%}
        (select
        {%- for name, kind in wanted %}
            {{ zendesk_audit.typed_null(kind) }} as {{ name }}{{ "," if not loop.last }}
        {%- endfor %}
        from (select 1 as no_accounts) as no_accounts where 1 = 0)
    {%- else -%}
        {%- set present = adapter.get_columns_in_relation(found) | map(attribute='name') | map('lower') | list -%}
        {%- if wanted | map('first') | reject('in', present) | list | length == 0 -%}
            {{ accounts }}
        {%- else -%}
            (select
            {%- for name, kind in wanted %}
                {{ name if name in present else zendesk_audit.typed_null(kind) }} as {{ name }}{{ "," if not loop.last }}
            {%- endfor %}
            from {{ accounts }})
        {%- endif -%}
    {%- endif -%}
{%- endmacro %}


{#- The configured time zone (var `zendesk_audit_time_zone`) as a SQL literal, or a typed null. -#}
{% macro configured_time_zone() -%}
    {%- set zone = var('zendesk_audit_time_zone', none) -%}
    {%- if zone -%}
        '{{ zone | replace("'", "''") }}'
    {%- else -%}
        cast(null as {{ dbt.type_string() }})
    {%- endif -%}
{%- endmacro %}
