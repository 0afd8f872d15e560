-- Per changed item (subdomain, source_type, source_id), each change in order with the previous
-- change's time and actor and the running count: configuration drift at a glance. Sign-ins and
-- exports are not changes to an item and are left out.
-- Incremental: an item whose new records all come after its last stored change is numbered on
-- from that change (work in proportion to the new records); an item that got a late record, or a
-- record stored already, has its whole history numbered again from its stored rows and its new
-- records (never from all records: the mart holds every change of an item, so its stored rows are
-- that history). Rows are replaced by their key (subdomain, audit_log_id): a record never leaves
-- this mart once in it (CSV rows, which could be superseded by their API twin, have no source_id
-- and never enter).
{{ config(unique_key=['subdomain', 'audit_log_id']) }}

with {% if is_incremental() -%}
-- The new records by their load; of the stored rows, the touched items' in the few columns that
-- numbering on needs (the mart is read whole only for an item numbered again, below).
new_audit_logs as (
    select * from {{ ref('int_audit_logs_deduplicated') }}
    where _dlt_load_id > '{{ zendesk_audit.since_load_id() }}'
        and source_id is not null
        and coalesce(action, '') not in ('login', 'exported')
),

stored as (
    select
        subdomain,
        source_type,
        source_id,
        actor_id,
        actor_name,
        change_number,
        created_at
    from {{ this }}
    where {{ zendesk_audit.in_changed_items(none) }}
),

stored_last as (
    select
        subdomain,
        source_type,
        source_id,
        max(change_number) as last_change_number,
        max(created_at) as last_changed_at
    from stored
    group by
        subdomain,
        source_type,
        source_id
),

-- New records that the mart holds already (loaded again): their items are numbered again.
restored_ids as (
    select
        subdomain,
        audit_log_id
    from {{ this }}
    where audit_log_id in (select audit_log_id from new_audit_logs)
),

new_changes as (
    select
        new_audit_logs.*,
        restored_ids.audit_log_id is not null as is_stored
    from new_audit_logs
    left join restored_ids
        on restored_ids.subdomain = new_audit_logs.subdomain
        and restored_ids.audit_log_id = new_audit_logs.audit_log_id
),

appendable_items as (
    select
        new_changes.subdomain,
        new_changes.source_type,
        new_changes.source_id,
        max(stored_last.last_change_number) as last_change_number
    from new_changes
    left join stored_last
        on stored_last.subdomain = new_changes.subdomain
        and coalesce(stored_last.source_type, '') = coalesce(new_changes.source_type, '')
        and stored_last.source_id = new_changes.source_id
    group by
        new_changes.subdomain,
        new_changes.source_type,
        new_changes.source_id
    having max(case when new_changes.is_stored then 1 else 0 end) = 0
        and (max(stored_last.last_changed_at) is null or min(new_changes.created_at) > max(stored_last.last_changed_at))
),

-- The new records of appendable items, after the item's last stored change (which only seeds the
-- previous_* columns and the count, and is not written again).
appended_input as (
    select
        new_changes.audit_log_id,
        new_changes.subdomain,
        new_changes.source_type,
        new_changes.source_id,
        new_changes.actor_id,
        new_changes.source_label,
        new_changes.action,
        new_changes.actor_name,
        new_changes.change_description_text,
        new_changes.is_system,
        new_changes.created_at,
        new_changes.created_at_local,
        coalesce(appendable_items.last_change_number, 1) as first_change_number,
        true as is_new
    from new_changes
    inner join appendable_items
        on appendable_items.subdomain = new_changes.subdomain
        and coalesce(appendable_items.source_type, '') = coalesce(new_changes.source_type, '')
        and appendable_items.source_id = new_changes.source_id
    union all
    select
        null as audit_log_id,
        stored.subdomain,
        stored.source_type,
        stored.source_id,
        stored.actor_id,
        null as source_label,
        null as action,
        stored.actor_name,
        null as change_description_text,
        null as is_system,
        stored.created_at,
        null as created_at_local,
        stored.change_number as first_change_number,
        false as is_new
    from stored
    inner join appendable_items
        on appendable_items.subdomain = stored.subdomain
        and coalesce(appendable_items.source_type, '') = coalesce(stored.source_type, '')
        and appendable_items.source_id = stored.source_id
        and appendable_items.last_change_number = stored.change_number
),

appended as (
    select
        audit_log_id,
        subdomain,
        source_type,
        source_id,
        actor_id,
        lag(actor_id) over item_changes as previous_actor_id,
        source_label,
        action,
        actor_name,
        lag(actor_name) over item_changes as previous_actor_name,
        change_description_text,
        min(first_change_number) over item_changes_whole + row_number() over item_changes - 1 as change_number,
        is_system,
        created_at,
        lag(created_at) over item_changes as previous_changed_at,
        created_at_local,
        is_new
    from appended_input
    window
        item_changes as (partition by subdomain, source_type, source_id order by created_at, audit_log_id),
        item_changes_whole as (partition by subdomain, source_type, source_id)
),

-- Touched items that cannot be appended to: their whole history is numbered again. None, most
-- of the time, and then the join below lets the engine skip reading any history.
renumbered_items as (
    select distinct
        new_changes.subdomain,
        new_changes.source_type,
        new_changes.source_id
    from new_changes
    left join appendable_items
        on appendable_items.subdomain = new_changes.subdomain
        and coalesce(appendable_items.source_type, '') = coalesce(new_changes.source_type, '')
        and appendable_items.source_id = new_changes.source_id
    where appendable_items.source_id is null
),

-- Their history: the new records, and the stored rows that no new record replaces.
renumbered_changes as (
    select
        new_changes.audit_log_id,
        new_changes.subdomain,
        new_changes.source_type,
        new_changes.source_id,
        new_changes.actor_id,
        new_changes.source_label,
        new_changes.action,
        new_changes.actor_name,
        new_changes.change_description_text,
        new_changes.is_system,
        new_changes.created_at,
        new_changes.created_at_local
    from new_changes
    inner join renumbered_items
        on renumbered_items.subdomain = new_changes.subdomain
        and coalesce(renumbered_items.source_type, '') = coalesce(new_changes.source_type, '')
        and renumbered_items.source_id = new_changes.source_id
    union all
    select
        stored.audit_log_id,
        stored.subdomain,
        stored.source_type,
        stored.source_id,
        stored.actor_id,
        stored.source_label,
        stored.action,
        stored.actor_name,
        stored.change_description_text,
        stored.is_system,
        stored.created_at,
        stored.created_at_local
    from {{ this }} as stored
    inner join renumbered_items
        on renumbered_items.subdomain = stored.subdomain
        and coalesce(renumbered_items.source_type, '') = coalesce(stored.source_type, '')
        and renumbered_items.source_id = stored.source_id
    left join new_changes
        on new_changes.subdomain = stored.subdomain
        and new_changes.audit_log_id = stored.audit_log_id
    where new_changes.audit_log_id is null
),
{%- else -%}
renumbered_changes as (
    select * from {{ ref('int_audit_logs_deduplicated') }}
    where source_id is not null
        and coalesce(action, '') not in ('login', 'exported')
),
{%- endif %}

sequenced as (
    select
        audit_log_id,
        subdomain,
        source_type,
        source_id,
        actor_id,
        lag(actor_id) over item_changes as previous_actor_id,
        source_label,
        action,
        actor_name,
        lag(actor_name) over item_changes as previous_actor_name,
        change_description_text,
        row_number() over item_changes as change_number,
        is_system,
        created_at,
        lag(created_at) over item_changes as previous_changed_at,
        created_at_local
    from renumbered_changes
    window item_changes as (partition by subdomain, source_type, source_id order by created_at, audit_log_id)
),

combined as (
    select * from sequenced
    {% if is_incremental() -%}
    union all
    select
        audit_log_id,
        subdomain,
        source_type,
        source_id,
        actor_id,
        previous_actor_id,
        source_label,
        action,
        actor_name,
        previous_actor_name,
        change_description_text,
        change_number,
        is_system,
        created_at,
        previous_changed_at,
        created_at_local
    from appended
    where is_new
    {%- endif %}
),

-- Stored item by item, so a dashboard reading one item's history skips the other blocks.
final as (
    select * from combined
    order by subdomain, source_type, source_id, change_number
)

select * from final
