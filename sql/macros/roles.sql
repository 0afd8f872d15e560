{#- Role lines of a user record, in Zendesk's words: `Role changed from X to Y` (the user's role)
    and one `<Product> role changed from X to Y` line per product ("Explore role changed from not
    set to Admin", "Support role changed from Staff to not set"); `not set` is no role. Used by
    user_role_history (int_audit_logs_deduplicated infers `user` for a CSV row from the same words). -#}

{#- True when a line's attribute (the words before ` changed from `) names a role: `Role`, or any
    words followed by ` role`, so a product Zendesk adds later still lands. -#}
{% macro is_role_attribute(attribute) -%}
    (lower(trim({{ attribute }})) = 'role' or lower(trim({{ attribute }})) like '% role')
{%- endmacro %}


{#- The product's names as role lines write them (lower case, without a leading `Zendesk `) and the
    one name each product gets. Zendesk renamed some products in Admin Center (Guide -> Knowledge,
    Explore -> Analytics, Talk -> Voice): each keeps the name its audit-log lines have long used.
    The plain `Role` line (no product words) is the user's Support role: end user, agent, admin. -#}
{% macro role_products() -%}
    {{ return({
        '': 'Support',
        'support': 'Support',
        'guide': 'Guide',
        'knowledge': 'Guide',
        'help center': 'Guide',
        'explore': 'Explore',
        'analytics': 'Explore',
        'talk': 'Talk',
        'voice': 'Talk',
        'chat': 'Chat',
        'live chat': 'Chat',
        'messaging': 'Chat',
        'sell': 'Sell',
        'admin center': 'Admin Center',
        'contact center': 'Contact Center',
        'workforce management': 'Workforce management',
        'wfm': 'Workforce management',
        'qa': 'QA',
        'quality assurance': 'QA',
        'ai agents': 'AI agents',
        'ai agents - advanced': 'AI agents',
        'ai agents advanced': 'AI agents',
    }) }}
{%- endmacro %}


{#- The product named by the words before ` role` (`Explore` in `Explore role`, '' for `Role`):
    a known name as role_products() maps it, other words as written. -#}
{% macro role_product(words) -%}
    {%- set known -%}
        lower(case when lower(trim({{ words }})) like 'zendesk %' then trim(substr(trim({{ words }}), 9)) else trim({{ words }}) end)
    {%- endset -%}
    case {{ known }}
        {%- for name, product in zendesk_audit.role_products().items() %}
        when '{{ name }}' then '{{ product }}'
        {%- endfor %}
        else trim({{ words }})
    end
{%- endmacro %}


{#- True when a role (null: none) is an admin role of its product: Admin, Administrator, the account
    owner (`Account owner`, Chat's legacy `Owner`), `Client admin` (AI agents - Advanced), and the
    legacy names of two products' admin role: Guide's `Manager` (renamed Guide Admin) and QA's
    `Account manager` (Zendesk QA documents it as equivalent to Admin). Compared in lower case. -#}
{% macro is_admin_role(product, role) -%}
    (lower(trim({{ role }})) in ('admin', 'administrator', 'account owner', 'owner', 'client admin')
        or ({{ product }} = 'Guide' and lower(trim({{ role }})) = 'manager')
        or ({{ product }} = 'QA' and lower(trim({{ role }})) = 'account manager'))
{%- endmacro %}
