{#- Incremental marts: a load of N records costs work in proportion to N.

    A build after a load re-reads only the partitions the new loads touched: the (account, local
    date) pairs of records whose `_dlt_load_id` is after the watermark (item_history: the items,
    see its SQL). The pre-hook deletes those partitions from the mart, the model inserts them
    again, computed from every record they hold. Re-reading a partition twice gives the same rows, so a
    watermark that is a little behind costs time, never correctness; and a CSV row whose API twin
    arrives later leaves the mart with its partition (the two share the second they happened in).

    `zendesk-audit models build` passes the watermark it recorded (var `zendesk_audit_since_load_id`);
    plain dbt re-reads the loads of the last `zendesk_audit_lookback_days` days. -#}

{% macro since_load_id() -%}
    {%- set since = var('zendesk_audit_since_load_id', none) -%}
    {%- if since is none -%}
        {%- set cutoff = modules.datetime.datetime.now().timestamp() - var('zendesk_audit_lookback_days', 3) | float * 86400 -%}
        {%- set since = '%.6f' % cutoff -%}
    {%- endif -%}
    {{ return(since | string) }}
{%- endmacro %}


{#- [(subdomain, local date), ...] touched by loads after the watermark (run at execution only).
    `zendesk-audit models build` asks once and passes them (var `zendesk_audit_changed_days`), so
    each mart need not ask again. `relation`: what to ask under plain dbt (default
    int_audit_logs_deduplicated; that model itself passes stg_audit_logs). -#}
{% macro changed_days(relation=none) -%}
    {%- if not execute or not is_incremental() -%}
        {{ return([]) }}
    {%- endif -%}
    {%- set given = var('zendesk_audit_changed_days', none) -%}
    {%- if given is not none -%}
        {%- set days = [] -%}
        {%- for account, day in given -%}
            {%- do days.append((account, day | string)) -%}
        {%- endfor -%}
        {{ return(days) }}
    {%- endif -%}
    {%- set query -%}
        select subdomain, cast(created_at_local as date) as local_date
        from {{ relation if relation is not none else ref('int_audit_logs_deduplicated') }}
        where _dlt_load_id > '{{ zendesk_audit.since_load_id() }}'
        group by subdomain, cast(created_at_local as date)
        order by 1, 2
    {%- endset -%}
    {%- set days = [] -%}
    {%- for row in run_query(query).rows -%}
        {%- do days.append((row[0], row[1] | string)) -%}
    {%- endfor -%}
    {{ return(days) }}
{%- endmacro %}


{#- A predicate true for the rows of the changed days: `local_date` is the expression for the local
    date; `created_at` (optional) a UTC timestamp column that lets the engine skip untouched blocks;
    `rescheduled_accounts`: also every row of the accounts whose schedules changed (off_hours_changes). -#}
{% macro in_changed_days(days, local_date, created_at=none, subdomain='subdomain', rescheduled_accounts=false) -%}
    {%- if rescheduled_accounts -%}
        ({{ zendesk_audit.in_changed_days(days, local_date, created_at, subdomain) }}
            or {{ zendesk_audit.in_rescheduled_accounts(subdomain, created_at or 'created_at') }})
    {%- elif days | length == 0 -%}
        1 = 0
    {%- else -%}
        {%- set dates = days | map(attribute=1) | sort -%}
        {%- set first = modules.datetime.date.fromisoformat(dates[0]) - modules.datetime.timedelta(days=2) -%}
        {%- set last = modules.datetime.date.fromisoformat(dates[-1]) + modules.datetime.timedelta(days=2) -%}
        {%- set by_account = {} -%}
        {%- for account, day in days -%}
            {%- do by_account.setdefault(account, []).append(day) -%}
        {%- endfor -%}
        (
        {%- if created_at %}
            {{ created_at }} >= {{ zendesk_audit.utc_timestamp(first ~ ' 00:00:00+00:00') }}
            and {{ created_at }} < {{ zendesk_audit.utc_timestamp(last ~ ' 00:00:00+00:00') }}
            and
        {%- endif %}
            (
            {%- for account, account_days in by_account.items() %}
                ({{ subdomain }} = '{{ account | replace("'", "''") }}' and {{ local_date }} in (
                    {%- for day in account_days -%}
                        cast('{{ day }}' as date){{ ", " if not loop.last }}
                    {%- endfor -%}
                )){{ " or" if not loop.last }}
            {%- endfor %}
            )
        )
    {%- endif -%}
{%- endmacro %}


{#- Pre-hook of the day-partitioned models: delete the changed days before they are inserted again. -#}
{% macro delete_changed_days(local_date, created_at=none, rescheduled_accounts=false, relation=none) -%}
    {%- if is_incremental() -%}
        delete from {{ this }} where {{ zendesk_audit.in_changed_days(zendesk_audit.changed_days(relation), local_date, created_at, rescheduled_accounts=rescheduled_accounts) }}
    {%- else -%}
        select 1 as nothing_to_delete
    {%- endif -%}
{%- endmacro %}


{#- The accounts whose schedules loads after the watermark changed, as [(subdomain, cutoff)]
    (run at execution only): a new workweek record at time t changes the business hours of the
    account's records from t on (cutoff: the earliest such t, as text); one that is the first known
    change of its schedule (a new schedule, or a late record older than its schedule's others) can
    also change the hours before it (version 0, or which schedule counts): cutoff none, the whole
    account. Schedule edits are rare; the other accounts keep the day-by-day refresh. -#}
{% macro rescheduled_accounts() -%}
    {%- if not execute or not is_incremental() -%}
        {{ return([]) }}
    {%- endif -%}
    {%- set query -%}
        with workweeks as (
            select subdomain, source_id, created_at, _dlt_load_id
            from {{ ref('int_audit_logs_deduplicated') }}
            where source_type = 'zendesk/business_hours/workweek'
        ),

        stored_first as (
            select subdomain, source_id, min(created_at) as first_changed_at
            from workweeks
            where _dlt_load_id <= '{{ zendesk_audit.since_load_id() }}'
            group by subdomain, source_id
        )

        select
            changed.subdomain,
            cast(min(changed.created_at) at time zone 'UTC' as {{ dbt.type_string() }}) as first_changed_at,
            max(case when stored_first.first_changed_at is null then 1 else 0 end) as is_whole_account
        from workweeks as changed
        left join stored_first
            on stored_first.subdomain = changed.subdomain
            and stored_first.source_id = changed.source_id
            and stored_first.first_changed_at < changed.created_at
        where changed._dlt_load_id > '{{ zendesk_audit.since_load_id() }}'
        group by changed.subdomain
        order by 1
    {%- endset -%}
    {%- set found = [] -%}
    {%- for row in run_query(query).rows -%}
        {%- do found.append((row[0], none if row[2] == 1 else (row[1] | string))) -%}
    {%- endfor -%}
    {{ return(found) }}
{%- endmacro %}


{#- A predicate true for the rows of off_hours_changes that the accounts' changed schedules
    (rescheduled_accounts) may judge anew. -#}
{% macro in_rescheduled_accounts(subdomain='subdomain', created_at='created_at') -%}
    {%- set accounts = zendesk_audit.rescheduled_accounts() -%}
    {%- if accounts | length == 0 -%}
        1 = 0
    {%- else -%}
        (
        {%- for account, cutoff in accounts %}
            ({{ subdomain }} = '{{ account | replace("'", "''") }}'
            {%- if cutoff is not none %} and {{ created_at }} >= {{ zendesk_audit.utc_timestamp(cutoff[:19] ~ '+00:00') }}{% endif %})
            {{- " or" if not loop.last }}
        {%- endfor %}
        )
    {%- endif -%}
{%- endmacro %}


{#- Pre-hook of schedule_history: delete every version of the schedules that new loads changed
    (they are inserted again, computed from all their records). -#}
{% macro delete_changed_schedules() -%}
    {%- if is_incremental() -%}
        delete from {{ this }} where schedule_id in ({{ zendesk_audit.changed_schedules('source_id') }})
    {%- else -%}
        select 1 as nothing_to_delete
    {%- endif -%}
{%- endmacro %}


{#- The items that loads after the watermark changed, by source_id: item_history reads the items
    with such an id (in any account or kind: a few too many, never one too few). A subquery, not a
    list of constants: the engine joins it by hash (a list of thousands of ids is compared row by row). -#}
{% macro in_changed_items(relation_alias) -%}
    {{ (relation_alias ~ '.') if relation_alias else '' }}source_id in (
        select changed.source_id
        from {{ ref('int_audit_logs_deduplicated') }} as changed
        where changed._dlt_load_id > '{{ zendesk_audit.since_load_id() }}'
            and changed.source_id is not null
    )
{%- endmacro %}
