"""`models/dbt_flag_source.py`: dbt-common's behavior-flag source without `inspect.stack()`, same answer."""
from __future__ import annotations

from zendesk_audit.models import dbt_flag_source


def test_the_quick_source_names_the_same_module_as_dbt_commons_own() -> None:
    dbt_flag_source.install()
    dbt_flag_source.install()  # idempotent: dbt-common's own method is still the one kept
    assert dbt_flag_source.replaced is not None
    # Both asked from a frame of this module, as the module declaring a flag asks: the same name.
    ours, theirs = dbt_flag_source.flag_source(), dbt_flag_source.replaced.__func__()
    assert ours == theirs == __name__


def test_a_flag_declared_here_names_this_module_as_its_source() -> None:
    from dbt_common.behavior_flags import Behavior

    dbt_flag_source.install()
    behavior = Behavior([{"name": "some_flag", "default": False, "description": "a flag"}], {})
    assert behavior.some_flag._behavior_change_event.flag_source == __name__
