-- Every record once, whichever way it came in. A record loaded from the API and again from an
-- Admin Center CSV import counts once: the API row stays (it has ids), its CSV twin is left out
-- (see macros/matching.sql; csv_api_reconciliation still shows what differs). CSV rows have no
-- source_type: it is inferred from the label's prefix (`Trigger: ...`, seed source_types_by_label),
-- else `user` for a role change, else it stays null.
with audit_logs as (
    select * from {{ ref('stg_audit_logs') }}
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
                when lower(labelled.change_description_text) like 'role changed from % to %'
                    or lower(labelled.change_description_text) like 'support role changed from % to %'
                    then 'user'
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
        labelled.created_at_local,
        {{ zendesk_audit.match_key_columns() }}
    from labelled
    left join source_types_by_label
        on labelled.source_type is null
        and source_types_by_label.label_prefix = labelled.label_prefix
),

api_records as (
    select * from typed
    where record_source <> 'csv'
),

csv_records as (
    select * from typed
    where record_source = 'csv'
),

-- Only API records that share a key with some CSV row take part in the pairing: none when no CSV
-- was imported, so the pairing costs nothing then.
api_twins as (
    select
        api_records.*,
        row_number() over (partition by {{ zendesk_audit.match_partition('api_records') }} order by api_records.id) as match_number
    from api_records
    where exists (
        select 1 from csv_records
        where {{ zendesk_audit.matches('api_records', 'csv_records') }}
    )
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

kept_csv_records as (
    select * from csv_records
    where not exists (
        select 1 from superseded_csv_records
        where superseded_csv_records.subdomain = csv_records.subdomain
            and superseded_csv_records.id = csv_records.id
    )
),

deduplicated as (
    select * from api_records
    union all
    select * from kept_csv_records
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
