{#- Zendesk's workweek texts ("Workweek changed from {...} to {...}") in one compact form that
    plain string functions read on every engine (no regular expressions, no JSON functions):

        Ruby   {:mon=>{"09:00"=>"12:00", "13:00"=>"17:00"}, :tue=>{}}
        JSON   {"monday": {"09:00": "12:00", "13:00": "17:00"}, "tuesday": {}}
        both   mon@09:00-12:00,13:00-17:00;,tue@;;

    A day is `<3-letter day>@<intervals>;`, intervals `HH:MM-HH:MM` separated by `,`; a day that is
    absent or `{}` has no interval. Input: the lower-cased description side, after staging decoded
    HTML entities twice; one more pass here reads a text escaped three times. Full day names
    (`monday`) become their 3-letter form, Ruby's symbol colons (`:mon`) and every quote go. -#}
{% macro workweek_compact(text) -%}
    {%- set steps = [
        ('&amp;', '&'), ('&quot;', '"'), ('&gt;', '>'),
        (' ', ''),
        ('":', '"=>'),
        ('"', ''),
        ('{:', '{'), (',:', ','),
        ('monday', 'mon'), ('tuesday', 'tue'), ('wednesday', 'wed'), ('thursday', 'thu'),
        ('friday', 'fri'), ('saturday', 'sat'), ('sunday', 'sun'),
        ('=>{', '@'), ('}', ';'), ('=>', '-'), ('{', ''),
    ] -%}
    {%- set ns = namespace(sql='replace(replace(' ~ text ~ ', ' ~ zendesk_audit.newline() ~ ", ''), "
                                 ~ zendesk_audit.carriage_return() ~ ", '')") -%}
    {%- for old, new in steps -%}
        {%- set ns.sql = "replace(" ~ ns.sql ~ ", '" ~ old ~ "', '" ~ new ~ "')" -%}
    {%- endfor -%}
    {{ return(ns.sql) }}
{%- endmacro %}


{#- True when a compact workweek has at least one open interval (`mon@;` is a closed day). -#}
{% macro workweek_has_hours(compact) -%}
    ({{ dbt.position("'@'", "replace(" ~ compact ~ ", '@;', ';')") }} > 0)
{%- endmacro %}


{#- The records of schedules that loads after the watermark changed (macros/incremental.sql):
    `column` of int_audit_logs_deduplicated, for an `in (...)`. -#}
{% macro changed_schedules(column) -%}
    select changed.{{ column }}
    from {{ ref('int_audit_logs_deduplicated') }} as changed
    where changed._dlt_load_id > '{{ zendesk_audit.since_load_id() }}'
        and changed.source_type = 'zendesk/business_hours/workweek'
{%- endmacro %}
