-- Every record once, whichever way it came in. A record loaded from the API and again from an
-- Admin Center CSV import counts once: the API row stays (it has ids), its CSV twin is left out
-- (see macros/matching.sql; csv_api_reconciliation still shows what differs). CSV rows have no
-- source_type: it is inferred from the label's prefix (`Trigger: ...`, seed source_types_by_label),
-- else `user` for a role change (a `Role changed from` or `<Product> role changed from` line
-- anywhere in the description, see macros/roles.sql), else it stays null.
-- A table, not a view: every mart reads it, and decoding, local times and the pairing then run once
-- per record rather than once per mart. Incremental like the marts (macros/incremental.sql): the
-- (account, local date) partitions that loads after the watermark touched are deleted and paired
-- again from every record they hold; a CSV row and its API twin share their second, so a partition
-- paired on its own gives the rows a full build gives it, whichever of the two came first.
{{ config(
    materialized=('table' if target.type == 'spark' else 'incremental'),
    incremental_strategy=('append' if target.type == 'databricks' else 'delete+insert'),
    unique_key=['subdomain', 'audit_log_id'],
    on_schema_change='append_new_columns',
    pre_hook="{{ zendesk_audit.delete_changed_days('cast(created_at_local as date)', 'created_at', relation=ref('stg_audit_logs')) }}",
) }}
{#- Every record, or in an incremental run those of the changed days (each read of staging filtered). -#}
{%- set in_changed_days = 'where 1 = 1' -%}
{%- if is_incremental() -%}
    {%- set days = zendesk_audit.changed_days(ref('stg_audit_logs')) -%}
    {%- set in_changed_days = 'where ' ~ zendesk_audit.in_changed_days(days, 'cast(created_at_local as date)', 'created_at') -%}
{%- endif %}

with audit_logs as (
    select * from {{ ref('stg_audit_logs') }}
    {{ in_changed_days }}
),

source_types_by_label as (
    select * from {{ ref('source_types_by_label') }}
),

separated as (
    select
        audit_logs.*,
        {{ dbt.position("': '", "coalesce(source_label, '')") }} as label_separator
    from audit_logs
),

labelled as (
    select
        separated.*,
        case
            when label_separator > 0 then lower(trim(substr(source_label, 1, label_separator - 1)))
        end as label_prefix
    from separated
),

typed as (
    select
        labelled.id,
        labelled.subdomain,
        labelled.created_at,
        labelled.action,
        labelled.action_label,
        labelled.actor_id,
        labelled.actor_name,
        labelled.ip_address,
        labelled.source_id,
        coalesce(
            labelled.source_type,
            source_types_by_label.source_type,
            case
                when lower(labelled.change_description_text) like '%role changed from % to %' then 'user'
            end
        ) as source_type,
        labelled.source_label,
        labelled.change_description,
        labelled.url,
        labelled._dlt_load_id,
        labelled._dlt_id,
        labelled.record_source,
        labelled.time_zone,
        labelled.time_zone_source,
        labelled.change_description_text,
        labelled.is_system,
        labelled.created_at_local
    from labelled
    left join source_types_by_label
        on labelled.source_type is null
        and source_types_by_label.label_prefix = labelled.label_prefix
),

-- The pairing reads only the columns it matches on, each import used once: an engine that
-- materialises a CTE read twice (DuckDB) would otherwise decode every record before a mart's
-- filter on the changed days could reach the table scan.
csv_records as (
    select
        subdomain,
        id,
        record_source,
        created_at,
        {{ zendesk_audit.match_key_columns() }}
    from {{ ref('stg_audit_logs') }}
    {{ in_changed_days }}
        and record_source = 'csv'
),

api_records as (
    select
        subdomain,
        id,
        record_source,
        created_at,
        {{ zendesk_audit.match_key_columns() }}
    from {{ ref('stg_audit_logs') }}
    {{ in_changed_days }}
        and record_source <> 'csv'
),

csv_keys as (
    select distinct
        subdomain,
        created_at,
        actor_key,
        item_key,
        action_key
    from csv_records
),

-- Only API records that share a key with some CSV row take part in the pairing: none when no CSV
-- was imported, and then the join's empty side lets the engine skip the API records.
api_twins as (
    select
        api_records.*,
        row_number() over (partition by {{ zendesk_audit.match_partition('api_records') }} order by api_records.id) as match_number
    from api_records
    inner join csv_keys
        on {{ zendesk_audit.matches('api_records', 'csv_keys') }}
),

numbered_csv_records as (
    select
        csv_records.*,
        row_number() over (partition by {{ zendesk_audit.match_partition('csv_records') }} order by csv_records.id) as match_number
    from csv_records
),

superseded_csv_records as (
    select
        numbered_csv_records.subdomain,
        numbered_csv_records.id
    from numbered_csv_records
    inner join api_twins
        on {{ zendesk_audit.matches('numbered_csv_records', 'api_twins') }}
        and api_twins.match_number = numbered_csv_records.match_number
),

-- One relation filtered, not a union of two. An anti-join (superseded rows are CSV rows, whose ids
-- are negative, each once), not `not exists`: engines decorrelate that into a join over every record.
deduplicated as (
    select typed.*
    from typed
    left join superseded_csv_records
        on superseded_csv_records.subdomain = typed.subdomain
        and superseded_csv_records.id = typed.id
    where superseded_csv_records.id is null
),

final as (
    select
        id as audit_log_id,
        subdomain,
        actor_id,
        source_id,
        action,
        action_label,
        actor_name,
        ip_address,
        source_type,
        source_label,
        change_description,
        change_description_text,
        url,
        record_source,
        time_zone,
        time_zone_source,
        _dlt_load_id,
        _dlt_id,
        is_system,
        created_at,
        created_at_local
    from deduplicated
)

select * from final
