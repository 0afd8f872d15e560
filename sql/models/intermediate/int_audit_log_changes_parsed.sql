-- Description lines of the forms `<attribute> changed from <old> to <new>` and
-- `Changed from <old> to <new>` (the attribute is then the record's label), split at the first
-- ` to ` after `changed from `. Other lines (`Enabled`, `Suspended`, ...) are left out.
with lines as (
    select * from {{ ref('int_audit_log_description_lines_split') }}
),

located as (
    select
        lines.*,
        case
            when lines.line_text like 'Changed from %' then ''
            else substr(lines.line_text, 1, {{ dbt.position("' changed from '", 'lines.line_text') }} - 1)
        end as attribute_text,
        case
            when lines.line_text like 'Changed from %' then substr(lines.line_text, 14)
            else substr(lines.line_text, {{ dbt.position("' changed from '", 'lines.line_text') }} + 14)
        end as values_text
    from lines
    where lines.line_text like 'Changed from % to %'
        or lines.line_text like '% changed from % to %'
),

parsed as (
    select
        located.*,
        coalesce(nullif(trim(attribute_text), ''), source_label) as attribute,
        substr(values_text, 1, {{ dbt.position("' to '", 'values_text') }} - 1) as old_value,
        substr(values_text, {{ dbt.position("' to '", 'values_text') }} + 4) as new_value
    from located
    where {{ dbt.position("' to '", 'values_text') }} > 0
)

select * from parsed
