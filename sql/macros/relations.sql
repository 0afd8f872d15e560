{#- On DuckDB, what the models read is named without its catalog (`schema.table`, not
    `"zendesk"."schema"."table"`). DuckDB names the catalog after the file, and a view keeps the name
    it was written with: a file copied, renamed or attached under another name would leave every
    view pointing at a catalog that does not exist. Inside one file, `schema.table` in a view
    resolves in the view's own catalog. The other engines keep dbt's full names.

    `ref` and `source` are dbt's own, wrapped (dbt's documented way to override them); they apply
    when this project is the root project (`zendesk-audit models build`). -#}
{% macro ref() -%}
    {%- set version = kwargs.get('version') or kwargs.get('v') -%}
    {%- if (varargs | length) == 1 -%}
        {%- set relation = builtins.ref(varargs[0], version=version) -%}
    {%- else -%}
        {%- set relation = builtins.ref(varargs[0], varargs[1], version=version) -%}
    {%- endif -%}
    {{ return(zendesk_audit.portable_relation(relation)) }}
{%- endmacro %}

{% macro source(source_name, table_name) -%}
    {{ return(zendesk_audit.portable_relation(builtins.source(source_name, table_name))) }}
{%- endmacro %}

{% macro portable_relation(relation) -%}
    {%- if target.type == 'duckdb' and relation is not none and relation.include is defined -%}
        {{ return(relation.include(database=False)) }}
    {%- endif -%}
    {{ return(relation) }}
{%- endmacro %}
