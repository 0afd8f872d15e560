{#- A description with every line break Zendesk writes turned into a newline: `\r\n` keeps its
    newline (the carriage return is removed per line), the two characters `\` `n` some exports show
    (and `\r\n` spelled out the same way), and `<br>`, `<br/>`, `<br />` in any case (also what
    staging decoded from `&lt;br&gt;`). Used by int_audit_log_description_lines_split. -#}
{% macro line_breaks_as_newlines(text) -%}
    {%- set backslash = zendesk_audit.backslash() -%}
    {%- set newline = zendesk_audit.newline() -%}
    {%- set spelled_out -%}
        replace(replace({{ text }}, {{ backslash }} || 'r' || {{ backslash }} || 'n', {{ newline }}), {{ backslash }} || 'n', {{ newline }})
    {%- endset -%}
    {{ zendesk_audit.replace_pattern_ignoring_case(spelled_out, '<br[ ]*/?>', newline) }}
{%- endmacro %}
