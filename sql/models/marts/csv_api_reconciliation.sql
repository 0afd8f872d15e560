-- One row per record that one source has and the other lacks, over the period both cover for an
-- account: the API load (`record_source = 'api'`) against Admin Center CSV imports
-- (`record_source = 'csv'`). Empty when they agree.
-- Records match as macros/matching.sql says. A table built whole on every build: the shared period
-- moves with every load, so no part of it can be kept.
{{ config(materialized='table') }}

with imported_records as (
    select * from {{ ref('stg_audit_logs') }}
    where record_source = 'csv'
),

records as (
    select * from {{ ref('stg_audit_logs') }}
),

csv_subdomains as (
    select distinct subdomain from imported_records
),

-- Only accounts with CSV rows can differ: without any, this reads no further.
audit_logs as (
    select records.*
    from records
    inner join csv_subdomains
        on csv_subdomains.subdomain = records.subdomain
),

labelled as (
    select
        id as audit_log_id,
        subdomain,
        record_source,
        actor_name,
        source_label,
        coalesce(action, lower(action_label)) as action_type,
        action_label,
        change_description,
        created_at,
        {{ zendesk_audit.match_key_columns() }}
    from audit_logs
),

source_periods as (
    select
        subdomain,
        record_source,
        min(created_at) as first_created_at,
        max(created_at) as last_created_at
    from labelled
    group by
        subdomain,
        record_source
),

shared_periods as (
    select
        api_periods.subdomain,
        greatest(api_periods.first_created_at, csv_periods.first_created_at) as period_start,
        least(api_periods.last_created_at, csv_periods.last_created_at) as period_end
    from source_periods as api_periods
    inner join source_periods as csv_periods
        on csv_periods.subdomain = api_periods.subdomain
        and csv_periods.record_source = 'csv'
    where api_periods.record_source = 'api'
),

in_shared_period as (
    select
        labelled.*,
        shared_periods.period_start,
        shared_periods.period_end,
        row_number() over (
            partition by {{ zendesk_audit.match_partition('labelled') }}
            order by labelled.audit_log_id
        ) as match_number
    from labelled
    inner join shared_periods
        on shared_periods.subdomain = labelled.subdomain
    where labelled.created_at >= shared_periods.period_start
        and labelled.created_at <= shared_periods.period_end
),

api_records as (
    select * from in_shared_period
    where record_source = 'api'
),

csv_records as (
    select * from in_shared_period
    where record_source = 'csv'
),

paired as (
    select
        coalesce(api_records.audit_log_id, csv_records.audit_log_id) as audit_log_id,
        coalesce(api_records.subdomain, csv_records.subdomain) as subdomain,
        case when api_records.audit_log_id is null then 'csv' else 'api' end as present_in,
        case when api_records.audit_log_id is null then 'api' else 'csv' end as missing_from,
        coalesce(api_records.actor_name, csv_records.actor_name) as actor_name,
        coalesce(api_records.source_label, csv_records.source_label) as source_label,
        coalesce(api_records.action_type, csv_records.action_type) as action_type,
        coalesce(api_records.action_label, csv_records.action_label) as action_label,
        coalesce(api_records.change_description, csv_records.change_description) as change_description,
        coalesce(api_records.match_number, csv_records.match_number) as match_number,
        coalesce(api_records.created_at, csv_records.created_at) as created_at,
        coalesce(api_records.period_start, csv_records.period_start) as period_start,
        coalesce(api_records.period_end, csv_records.period_end) as period_end
    from api_records
    full outer join csv_records
        on {{ zendesk_audit.matches('api_records', 'csv_records') }}
        and csv_records.match_number = api_records.match_number
    where api_records.audit_log_id is null
        or csv_records.audit_log_id is null
)

select * from paired
