-- One row per role line of a user record (source_type `user`; for CSV rows inferred from the label
-- or the description): `Role changed from X to Y` (the user's role, product Support) and every
-- `<Product> role changed from X to Y` line, one per product, several in one record ("Explore role
-- changed from not set to Admin", "Talk role changed from Agent to not set"). Any words before
-- ` role` count, so a product Zendesk adds later lands too; known ones get one name
-- (macros/roles.sql). `not set` is a null role. grants_admin / removes_admin: whether the line
-- makes the user an admin of that product, or stops them being one (Admin -> Administrator is
-- neither).
{{ config(
    unique_key=['subdomain', 'audit_log_id', 'line_number'],
    pre_hook="{{ zendesk_audit.delete_changed_days('cast(changed_at_local as date)', 'changed_at') }}",
) }}

-- depends_on: {{ ref('int_audit_logs_deduplicated') }} (the changed days come from it)
with changes as (
    select * from {{ ref('int_audit_log_changes_parsed') }}
    {% if is_incremental() -%}
    where {{ zendesk_audit.in_changed_days(zendesk_audit.changed_days(), 'cast(created_at_local as date)', 'created_at') }}
    {%- endif %}
),

role_lines as (
    select
        changes.*,
        trim(substr(trim(attribute_text), 1, length(trim(attribute_text)) - 4)) as role_words,
        case when lower(trim(old_value)) = 'not set' then null else old_value end as old_role_value,
        case when lower(trim(new_value)) = 'not set' then null else new_value end as new_role_value
    from changes
    where source_type = 'user'
        and {{ zendesk_audit.is_role_attribute('attribute_text') }}
),

with_product as (
    select
        role_lines.*,
        {{ zendesk_audit.role_product('role_words') }} as product
    from role_lines
),

role_changes as (
    select
        audit_log_id,
        line_number,
        subdomain,
        source_id as user_id,
        actor_id,
        source_label as user_name,
        product,
        lower(trim(attribute_text)) as role_kind,
        old_role_value as old_role,
        new_role_value as new_role,
        actor_name,
        case
            when {{ zendesk_audit.is_admin_role('product', 'new_role_value') }}
                and not coalesce({{ zendesk_audit.is_admin_role('product', 'old_role_value') }}, false) then true
            else false
        end as grants_admin,
        case
            when {{ zendesk_audit.is_admin_role('product', 'old_role_value') }}
                and not coalesce({{ zendesk_audit.is_admin_role('product', 'new_role_value') }}, false) then true
            else false
        end as removes_admin,
        created_at as changed_at,
        created_at_local as changed_at_local
    from with_product
)

select * from role_changes
