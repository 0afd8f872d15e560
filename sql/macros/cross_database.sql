{#- Where the dialects differ, and dbt's own cross-database macros (dbt.datediff, dbt.dateadd,
    dbt.split_part, dbt.position, dbt.type_string, ...) do not cover it. Written for DuckDB and
    PostgreSQL (the default), with Spark/Databricks, Snowflake and BigQuery variants. -#}

{% macro to_local_time(timestamp_column, time_zone_column) -%}
    {{ return(adapter.dispatch('to_local_time', 'zendesk_audit')(timestamp_column, time_zone_column)) }}
{%- endmacro %}

{% macro default__to_local_time(timestamp_column, time_zone_column) -%}
    ({{ timestamp_column }} at time zone {{ time_zone_column }})
{%- endmacro %}

{% macro spark__to_local_time(timestamp_column, time_zone_column) -%}
    from_utc_timestamp({{ timestamp_column }}, {{ time_zone_column }})
{%- endmacro %}

{% macro snowflake__to_local_time(timestamp_column, time_zone_column) -%}
    convert_timezone('UTC', {{ time_zone_column }}, {{ timestamp_column }})::timestamp_ntz
{%- endmacro %}

{% macro bigquery__to_local_time(timestamp_column, time_zone_column) -%}
    datetime({{ timestamp_column }}, {{ time_zone_column }})
{%- endmacro %}


{#- to_local_time with each of `zones` (known_time_zones) written as a literal: engines convert with a
    literal zone several times faster than with a zone read row by row (DuckDB: about 5x, ICU
    prepares the zone once). A row whose zone is not in the list still converts, row by row. -#}
{% macro to_local_time_by_zone(timestamp_column, time_zone_column, zones) -%}
    {%- if zones | length == 0 -%}
        {{ zendesk_audit.to_local_time(timestamp_column, time_zone_column) }}
    {%- else -%}
        case {{ time_zone_column }}
        {%- for zone in zones %}
            {%- set literal = "'" ~ (zone | replace("'", "''")) ~ "'" %}
            when {{ literal }} then {{ zendesk_audit.to_local_time(timestamp_column, literal) }}
        {%- endfor %}
            else {{ zendesk_audit.to_local_time(timestamp_column, time_zone_column) }}
        end
    {%- endif -%}
{%- endmacro %}


{#- ISO weekday, 1 = Monday .. 7 = Sunday. -#}
{% macro iso_weekday(timestamp_column) -%}
    {{ return(adapter.dispatch('iso_weekday', 'zendesk_audit')(timestamp_column)) }}
{%- endmacro %}

{% macro default__iso_weekday(timestamp_column) -%}
    cast(extract(isodow from {{ timestamp_column }}) as integer)
{%- endmacro %}

{% macro spark__iso_weekday(timestamp_column) -%}
    cast(extract(dayofweek_iso from {{ timestamp_column }}) as integer)
{%- endmacro %}

{% macro snowflake__iso_weekday(timestamp_column) -%}
    dayofweekiso({{ timestamp_column }})
{%- endmacro %}

{% macro bigquery__iso_weekday(timestamp_column) -%}
    mod(extract(dayofweek from {{ timestamp_column }}) + 5, 7) + 1
{%- endmacro %}


{% macro newline() -%}
    {{ return(adapter.dispatch('newline', 'zendesk_audit')()) }}
{%- endmacro %}

{% macro default__newline() -%}
    chr(10)
{%- endmacro %}

{% macro bigquery__newline() -%}
    '\n'
{%- endmacro %}

{% macro carriage_return() -%}
    {{ return(adapter.dispatch('carriage_return', 'zendesk_audit')()) }}
{%- endmacro %}

{% macro default__carriage_return() -%}
    chr(13)
{%- endmacro %}

{% macro bigquery__carriage_return() -%}
    '\r'
{%- endmacro %}


{#- A backslash (for the two characters `\` `n` some exports write between lines): written with
    chr(), as a string literal's backslash means different things to different engines. -#}
{% macro backslash() -%}
    {{ return(adapter.dispatch('backslash', 'zendesk_audit')()) }}
{%- endmacro %}

{% macro default__backslash() -%}
    chr(92)
{%- endmacro %}

{% macro bigquery__backslash() -%}
    '\\'
{%- endmacro %}


{#- Every match of a regular expression replaced, ignoring case. Keep the pattern free of
    backslashes and quotes: engines read those differently inside string literals. -#}
{% macro replace_pattern_ignoring_case(text, pattern, replacement) -%}
    {{ return(adapter.dispatch('replace_pattern_ignoring_case', 'zendesk_audit')(text, pattern, replacement)) }}
{%- endmacro %}

{% macro default__replace_pattern_ignoring_case(text, pattern, replacement) -%}
    regexp_replace({{ text }}, '{{ pattern }}', {{ replacement }}, 'gi')
{%- endmacro %}

{% macro spark__replace_pattern_ignoring_case(text, pattern, replacement) -%}
    regexp_replace({{ text }}, '(?i){{ pattern }}', {{ replacement }})
{%- endmacro %}

{% macro snowflake__replace_pattern_ignoring_case(text, pattern, replacement) -%}
    regexp_replace({{ text }}, '{{ pattern }}', {{ replacement }}, 1, 0, 'i')
{%- endmacro %}

{% macro bigquery__replace_pattern_ignoring_case(text, pattern, replacement) -%}
    regexp_replace({{ text }}, r'(?i){{ pattern }}', {{ replacement }})
{%- endmacro %}


{#- A UTC instant written as text ('2026-10-01 00:00:00+00:00') as a timestamp with time zone. -#}
{% macro utc_timestamp(text) -%}
    {{ return(adapter.dispatch('utc_timestamp', 'zendesk_audit')(text)) }}
{%- endmacro %}

{% macro default__utc_timestamp(text) -%}
    cast('{{ text }}' as timestamp with time zone)
{%- endmacro %}

{% macro spark__utc_timestamp(text) -%}
    to_timestamp('{{ text }}')
{%- endmacro %}

{% macro bigquery__utc_timestamp(text) -%}
    timestamp('{{ text }}')
{%- endmacro %}


{#- A typed null, for columns a relation lacks. -#}
{% macro typed_null(kind) -%}
    {%- if kind == 'timestamp' -%}
        cast(null as {{ zendesk_audit.type_timestamp_tz() }})
    {%- else -%}
        cast(null as {{ dbt.type_string() }})
    {%- endif -%}
{%- endmacro %}

{% macro type_timestamp_tz() -%}
    {{ return(adapter.dispatch('type_timestamp_tz', 'zendesk_audit')()) }}
{%- endmacro %}

{% macro default__type_timestamp_tz() -%}
    timestamp with time zone
{%- endmacro %}

{% macro spark__type_timestamp_tz() -%}
    timestamp
{%- endmacro %}

{% macro bigquery__type_timestamp_tz() -%}
    timestamp
{%- endmacro %}

{% macro snowflake__type_timestamp_tz() -%}
    timestamp_tz
{%- endmacro %}


{#- Seconds since 1970-01-01 UTC, as a whole number. -#}
{% macro epoch_seconds(timestamp_column) -%}
    {{ return(adapter.dispatch('epoch_seconds', 'zendesk_audit')(timestamp_column)) }}
{%- endmacro %}

{% macro default__epoch_seconds(timestamp_column) -%}
    cast(extract(epoch from {{ timestamp_column }}) as bigint)
{%- endmacro %}

{% macro spark__epoch_seconds(timestamp_column) -%}
    unix_seconds({{ timestamp_column }})
{%- endmacro %}

{% macro bigquery__epoch_seconds(timestamp_column) -%}
    unix_seconds({{ timestamp_column }})
{%- endmacro %}

{% macro snowflake__epoch_seconds(timestamp_column) -%}
    date_part(epoch_second, {{ timestamp_column }})
{%- endmacro %}


{#- The n-th line (1-based) of a text; dbt.split_part wants a literal part number. -#}
{% macro nth_line(text_column, line_number) -%}
    {{ return(adapter.dispatch('nth_line', 'zendesk_audit')(text_column, line_number)) }}
{%- endmacro %}

{% macro default__nth_line(text_column, line_number) -%}
    split_part({{ text_column }}, {{ zendesk_audit.newline() }}, {{ line_number }})
{%- endmacro %}

{% macro spark__nth_line(text_column, line_number) -%}
    coalesce(element_at(split({{ text_column }}, '\n'), {{ line_number }}), '')
{%- endmacro %}

{% macro bigquery__nth_line(text_column, line_number) -%}
    coalesce(split({{ text_column }}, '\n')[safe_ordinal({{ line_number }})], '')
{%- endmacro %}


{#- An optional seed cell: null when empty. dbt-spark loads an empty cell of a text column as the
    text 'None', so there that counts as empty too. -#}
{% macro empty_as_null(column) -%}
    {{ return(adapter.dispatch('empty_as_null', 'zendesk_audit')(column)) }}
{%- endmacro %}

{% macro default__empty_as_null(column) -%}
    nullif({{ column }}, '')
{%- endmacro %}

{% macro spark__empty_as_null(column) -%}
    nullif(nullif({{ column }}, ''), 'None')
{%- endmacro %}

{#- The digits 0 to 9 as rows (column `digit`): cross joins of it generate line and minute numbers
    on every engine, where generate_series, unnest and explode are not portable. -#}
{% macro digits() -%}
    select digit from (
        select 0 as digit union all select 1 union all select 2 union all select 3 union all select 4
        union all select 5 union all select 6 union all select 7 union all select 8 union all select 9
    ) as digit_values
{%- endmacro %}


{#- The n-th part (1-based) of a text split at a one-character delimiter that is not a regular
    expression's special character (`,`, `;`); `part_number` may be a column. Callers keep
    part_number within the number of parts (Spark's element_at fails past the end in ANSI mode). -#}
{% macro nth_part(text_column, delimiter, part_number) -%}
    {{ return(adapter.dispatch('nth_part', 'zendesk_audit')(text_column, delimiter, part_number)) }}
{%- endmacro %}

{% macro default__nth_part(text_column, delimiter, part_number) -%}
    split_part({{ text_column }}, '{{ delimiter }}', {{ part_number }})
{%- endmacro %}

{% macro spark__nth_part(text_column, delimiter, part_number) -%}
    coalesce(element_at(split({{ text_column }}, '{{ delimiter }}'), {{ part_number }}), '')
{%- endmacro %}

{% macro bigquery__nth_part(text_column, delimiter, part_number) -%}
    coalesce(split({{ text_column }}, '{{ delimiter }}')[safe_ordinal({{ part_number }})], '')
{%- endmacro %}
