-- version: 1
-- Description lines of the forms `<attribute> changed from <old> to <new>` and
-- `Changed from <old> to <new>` (the attribute is then the record's label), split at the first
-- ` to ` after `changed from `. Other lines (`Enabled`, `Suspended`, ...) are left out.
with lines as (
    select * from {{ ref('int_audit_log_description_lines_split') }}
),

audit_logs as (
    select * from {{ ref('stg_audit_logs') }}
),

located as (
    select
        lines.audit_log_id,
        lines.line_number,
        lines.line_text,
        audit_logs.source_label,
        case
            when lines.line_text like 'Changed from %' then ''
            else substr(lines.line_text, 1, position(' changed from ' in lines.line_text) - 1)
        end as attribute_text,
        case
            when lines.line_text like 'Changed from %' then substr(lines.line_text, 14)
            else substr(lines.line_text, position(' changed from ' in lines.line_text) + 14)
        end as values_text
    from lines
    inner join audit_logs
        on audit_logs.id = lines.audit_log_id
    where lines.line_text like 'Changed from % to %'
        or lines.line_text like '% changed from % to %'
),

parsed as (
    select
        audit_log_id,
        line_number,
        coalesce(nullif(trim(attribute_text), ''), source_label) as attribute,
        substr(values_text, 1, position(' to ' in values_text) - 1) as old_value,
        substr(values_text, position(' to ' in values_text) + 4) as new_value
    from located
    where position(' to ' in values_text) > 0
)

select * from parsed
