{#- The public marts are versioned dbt models: each version is its own relation
    (`sensitive_changes_v1`), and the latest version is also a view under the plain name
    (`sensitive_changes`), so a BI tool can pin a version or follow the latest. A post-hook of every
    versioned model; dbt's recipe for "a view that points to the latest version". -#}
{% macro create_latest_version_view() -%}
    {%- if model.get('version') is not none and model.get('version') == model.get('latest_version') -%}
        {%- set latest = this.incorporate(path={"identifier": model['name']}) -%}
        {%- set existing = load_relation(latest) -%}
        {%- if existing is not none and not existing.is_view -%}
            {% do drop_relation_if_exists(existing) %}
        {%- endif -%}
        {{ return(adapter.dispatch('create_latest_version_view', 'zendesk_audit')(latest, this)) }}
    {%- else -%}
        {{ return("select 1 as no_latest_version_view") }}
    {%- endif -%}
{%- endmacro %}

{% macro default__create_latest_version_view(latest, versioned) -%}
    create or replace view {{ latest }} as select * from {{ versioned }}
{%- endmacro %}

{#- PostgreSQL replaces a view in place only when its columns stay the same; inside the model's
    transaction, so readers never see it missing. -#}
{% macro postgres__create_latest_version_view(latest, versioned) -%}
    drop view if exists {{ latest }}; create view {{ latest }} as select * from {{ versioned }}
{%- endmacro %}

{#- DuckDB: the view names what it reads without the catalog (see relations.sql). -#}
{% macro duckdb__create_latest_version_view(latest, versioned) -%}
    create or replace view {{ latest }} as select * from {{ zendesk_audit.portable_relation(versioned) }}
{%- endmacro %}
