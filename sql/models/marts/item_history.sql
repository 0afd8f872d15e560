-- Per changed item (subdomain, source_type, source_id), each change in order with the previous
-- change's time and actor and the running count: configuration drift at a glance. Sign-ins and
-- exports are not changes to an item and are left out. Incremental: the changed items' whole
-- histories are numbered again.
{{ config(
    unique_key=['subdomain', 'audit_log_id'],
    pre_hook="{{ zendesk_audit.delete_changed_items() }}",
) }}

with audit_logs as (
    select * from {{ ref('int_audit_logs_deduplicated') }}
),

changes as (
    select * from audit_logs
    where source_id is not null
        and coalesce(action, '') not in ('login', 'exported')
        {% if is_incremental() -%}
        and {{ zendesk_audit.in_changed_items('audit_logs') }}
        {%- endif %}
),

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
    from changes
    window item_changes as (partition by subdomain, source_type, source_id order by created_at, audit_log_id)
),

-- Stored item by item, so a dashboard reading one item's history skips the other blocks.
final as (
    select * from sequenced
    order by subdomain, source_type, source_id, change_number
)

select * from final
