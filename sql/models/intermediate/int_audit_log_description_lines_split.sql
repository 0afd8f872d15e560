-- One row per non-empty line of a decoded description (up to 100 lines per record), with its
-- 1-based line number and the record's columns. Zendesk separates lines with a newline (`\n` or
-- `\r\n`); some exports show it as the two characters `\` `n`, others as `<br>`: each is a line
-- break here (macros/lines.sql). split_part over a generated line-number list is portable where
-- unnest/explode are not. A record meets its line numbers by an equality join on its line count
-- (at most 100) against the 5,050 (line count, line number) pairs: a join on `line_number <=
-- line_count` would sort every record with its description.
with audit_logs as (
    select * from {{ ref('int_audit_logs_deduplicated') }}
),

digits as (
    {{ zendesk_audit.digits() }}
),

line_numbers as (
    select
        tens.digit * 10 + ones.digit + 1 as line_number
    from digits as tens
    cross join digits as ones
),

line_number_pairs as (
    select
        line_counts.line_number as line_count,
        line_numbers.line_number
    from line_numbers as line_counts
    inner join line_numbers
        on line_numbers.line_number <= line_counts.line_number
),

separated as (
    select
        audit_logs.*,
        {{ zendesk_audit.line_breaks_as_newlines('change_description_text') }} as description_lines_text
    from audit_logs
    where change_description_text is not null
        and change_description_text <> ''
),

described as (
    select
        separated.*,
        length(description_lines_text) - length(replace(description_lines_text, {{ zendesk_audit.newline() }}, '')) + 1 as line_count
    from separated
),

split as (
    select
        described.*,
        line_numbers.line_number,
        trim(replace(
            {{ zendesk_audit.nth_line('described.description_lines_text', 'line_numbers.line_number') }},
            {{ zendesk_audit.carriage_return() }}, ''
        )) as line_text
    from described
    inner join line_number_pairs as line_numbers
        on line_numbers.line_count = least(described.line_count, 100)
),

final as (
    select * from split
    where line_text <> ''
)

select * from final
