-- version: 1
-- One row per non-empty line of a decoded description (up to 100 lines per record), with its
-- 1-based line number. split_part over a generated line-number list is portable where
-- unnest/explode are not.
with audit_logs as (
    select * from {{ ref('stg_audit_logs') }}
),

digits as (
    select digit from (values (0), (1), (2), (3), (4), (5), (6), (7), (8), (9)) as digit_values (digit)
),

line_numbers as (
    select
        tens.digit * 10 + ones.digit + 1 as line_number
    from digits as tens
    cross join digits as ones
),

described as (
    select
        id as audit_log_id,
        change_description_text,
        length(change_description_text) - length(replace(change_description_text, chr(10), '')) + 1 as line_count
    from audit_logs
    where change_description_text is not null
        and change_description_text <> ''
),

split as (
    select
        described.audit_log_id,
        line_numbers.line_number,
        trim(replace(split_part(described.change_description_text, chr(10), line_numbers.line_number), chr(13), '')) as line_text
    from described
    inner join line_numbers
        on line_numbers.line_number <= described.line_count
),

final as (
    select * from split
    where line_text <> ''
)

select * from final
