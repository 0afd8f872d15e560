"""The early check of the detection rules, remembered: a run whose rules did not change skips pySigma.

`load`, `import-csv` and `models build` compile every rule before anything is written, so a bad rule
fails in one line (`file: field: reason`). pySigma's import and the compile cost about a quarter of a
second of CPU, most of a no-op run's budget; so a check that passed leaves a stamp named by the
digest of what it read (every rule file's name and bytes, this package's rule code, the versions of
zendesk-audit and pySigma), under dlt's data folder (`$DLT_DATA_DIR/zendesk_audit/checked_rules`).
A stamp is written only by a models build that compiled the rules (`remember_checked`), never by
the check itself (a command that fails on its configuration writes nothing), so a bad rule is never
remembered; any byte changed
in any rule, or an upgrade, makes a new digest and a real check. The build itself still compiles
the rules (`detection_sql.detection_inputs`) whenever dbt runs.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

from zendesk_audit.models.detection_rules import DEFAULT_RULES_DIR, rule_files, team_rules_dir

STAMP_FOLDER = Path("zendesk_audit") / "checked_rules"


def _versions() -> list[str]:
    from importlib.metadata import PackageNotFoundError, version

    found = []
    for package in ("zendesk-audit", "pysigma"):
        try:
            found.append(version(package))
        except PackageNotFoundError:
            found.append("")
    return found


def rules_digest(folders: list[Path]) -> str:
    """The digest of the rule files of `folders` and of the code that reads and compiles them.

    Raises:
        DetectionRuleError: a folder is missing (the one line the full check gives too).
    """
    here = Path(__file__).resolve().parent
    code = [here / "detection_rules.py", here / "detection_sql.py", here / "seeds.py"]
    parts = [[str(path), hashlib.sha256(path.read_bytes()).hexdigest()] for path in [*rule_files(folders), *code]]
    return hashlib.sha256(json.dumps([parts, _versions()]).encode("utf-8")).hexdigest()


def _stamp(digest: str) -> Path:
    from dlt.common.pipeline import get_dlt_pipelines_dir

    # Beside dlt's pipelines folder, as the locks are (`locking`): $DLT_DATA_DIR by default.
    return Path(get_dlt_pipelines_dir()).parent / STAMP_FOLDER / digest


def check_rules(detections_dir: str | Path | None) -> None:
    """Compile the shipped rules and the team's (`--detections-dir`, else config), unless these
    exact files passed before (see the module's docstring).

    Raises:
        DetectionRuleError: `file: field: reason` (exit 2).
    """
    team = team_rules_dir(detections_dir)
    folders = [DEFAULT_RULES_DIR, *([team] if team else [])]
    digest = rules_digest(folders)
    stamp = _stamp(digest)
    if stamp.is_file():
        return
    from zendesk_audit.models.detection_rules import load_detection_rules
    from zendesk_audit.models.detection_sql import compile_rules

    compile_rules(load_detection_rules([team] if team else []), "postgres")


def remember_checked(detections_dir: str | Path | None) -> None:
    """Leave the stamp for these rules: called by a models build once it compiled them (it writes
    the database anyway then), never by the early check, so a command that fails on its
    configuration still writes nothing."""
    from zendesk_audit.models.detection_rules import load_detection_rules
    from zendesk_audit.models.detection_sql import compile_rules

    team = team_rules_dir(detections_dir)
    stamp = _stamp(rules_digest([DEFAULT_RULES_DIR, *([team] if team else [])]))
    if stamp.is_file():
        return
    compile_rules(load_detection_rules([team] if team else []), "postgres")  # the check's own dialect
    try:
        stamp.parent.mkdir(parents=True, exist_ok=True)
        stamp.write_text("passed\n", encoding="utf-8")
    except OSError:
        pass  # a read-only data folder: the next run checks again
