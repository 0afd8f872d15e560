"""dbt-common's behavior-flag source, found without `inspect.stack()`.

Every dbt invocation registers its adapter, and every behavior flag the adapter declares asks
`BehaviorFlagRendered._default_source()` which module declared it, even when the flag names its
source (the default of `flag.get("source", ...)` is evaluated first). dbt-common 1.39 answers with
`inspect.stack()`, which reads a few source lines for every frame on the stack and looks each
frame's file up among all loaded modules, at each dbt invocation (parse, seed, run): the deeper the
stack and the more modules loaded (an orchestrator's worker, a test run), the dearer. Sampled with
py-spy over the models' tests, it was 18% of all their CPU.

`flag_source` gives the same answer (the name of the first module on the stack that is not
dbt-common's `behavior_flags`) from the frames' globals, reading no file. `install()` puts it in
place of dbt-common's method, once per process, before dbt runs (`dbt_project.DbtProject.invoke`);
tests/test_dbt_flag_source.py checks that both answer alike.
"""
from __future__ import annotations

import sys

FLAGS_MODULE = "dbt_common.behavior_flags"


def flag_source() -> str:
    """The module that declared a behavior flag: the first caller outside `behavior_flags`."""
    frame = sys._getframe(1)
    while frame is not None:
        name = frame.f_globals.get("__name__")
        if name and name != FLAGS_MODULE:
            return str(name)
        frame = frame.f_back
    return "Unknown"


def install() -> None:
    """Replace dbt-common's `_default_source` by `flag_source` (idempotent); nothing without dbt-common."""
    try:
        from dbt_common.behavior_flags import BehaviorFlagRendered
    except ImportError:
        return
    global replaced
    current = BehaviorFlagRendered.__dict__.get("_default_source")
    if current is not _INSTALLED:
        replaced = current
        BehaviorFlagRendered._default_source = _INSTALLED  # type: ignore[method-assign]


_INSTALLED = staticmethod(flag_source)
# dbt-common's own `_default_source` (a staticmethod), once `install()` replaced it.
replaced: staticmethod | None = None  # type: ignore[type-arg]
