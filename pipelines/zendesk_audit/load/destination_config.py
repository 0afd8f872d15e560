"""A destination's resolved configuration, resolved once per destination object.

Resolving a dlt destination's configuration walks every config provider (about 0.1 s of CPU each
time); the pipeline's key (`state_layout`), the locks (`locking`) and the error lines ask for it
several times per run, most of a no-op run's budget. The destination object is made once per
command, from the configuration of that moment, so its resolution is kept with it.
"""
from __future__ import annotations

import weakref
from typing import Any

_RESOLVED: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()


def partial_configuration(destination: Any) -> Any:
    """`destination.configuration(destination.spec(), accept_partial=True)`, once per destination object.

    Raises:
        whatever dlt raises for a configuration it cannot resolve (not remembered).
    """
    try:
        return _RESOLVED[destination]
    except (KeyError, TypeError):
        pass
    config = destination.configuration(destination.spec(), accept_partial=True)
    try:
        _RESOLVED[destination] = config
    except TypeError:
        pass  # an object that cannot be weakly referenced: resolved each time
    return config
