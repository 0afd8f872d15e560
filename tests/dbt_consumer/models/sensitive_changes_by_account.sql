-- Built on the package's public mart: the latest version of sensitive_changes, by ref().
with sensitive_changes as (
    select * from {{ ref('zendesk_audit', 'sensitive_changes') }}
),

pinned as (
    select * from {{ ref('zendesk_audit', 'sensitive_changes', v=1) }}
),

counted as (
    select
        sensitive_changes.subdomain,
        sensitive_changes.severity,
        count(*) as changes,
        (select count(*) from pinned) as changes_in_pinned_version
    from sensitive_changes
    group by
        sensitive_changes.subdomain,
        sensitive_changes.severity
)

select * from counted
