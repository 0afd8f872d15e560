{#- The model's grain: no two rows share these columns (a null counts as a value). -#}
{% test unique_key(model, columns) %}

select
    {{ columns | join(', ') }},
    count(*) as rows_with_key
from {{ model }}
group by {{ columns | join(', ') }}
having count(*) > 1

{% endtest %}
