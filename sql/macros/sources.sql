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


{#- The zones staging converts local times with (run at execution only): the configured zone, else
    UTC and each account's zone in `accounts`; for to_local_time_by_zone. A zone added after staging
    was compiled still converts (the slower way), and the build rebuilds staging when an account's
    zone changes. -#}
{% macro known_time_zones() -%}
    {%- if not execute -%}
        {{ return([]) }}
    {%- endif -%}
    {%- set configured = var('zendesk_audit_time_zone', none) -%}
    {%- if configured -%}
        {{ return([configured | string]) }}
    {%- endif -%}
    {%- set query -%}
        select distinct nullif(trim(iana_time_zone), '') as zone
        from {{ zendesk_audit.accounts_relation() }} as accounts
    {%- endset -%}
    {%- set zones = ['UTC'] -%}
    {%- for row in run_query(query).rows -%}
        {%- if row[0] and row[0] not in zones -%}
            {%- do zones.append(row[0] | string) -%}
        {%- endif -%}
    {%- endfor -%}
    {{ return((zones | sort)[:50]) }}
{%- endmacro %}
