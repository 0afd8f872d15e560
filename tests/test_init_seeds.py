"""`zendesk-audit models init-seeds DIR`: the user's own copies of the shipped seeds."""
from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner, Result

from zendesk_audit.cli.commands import cli
from zendesk_audit.models.build import read_project_seeds
from zendesk_audit.settings import SQL_DIR

SHIPPED = SQL_DIR / "seeds"


def init_seeds(*args: str) -> Result:
    return CliRunner().invoke(cli, ["models", "init-seeds", *args], catch_exceptions=False)


def test_init_seeds_writes_copies_of_every_shipped_seed_that_the_models_then_read(tmp_path: Path) -> None:
    target = tmp_path / "config" / "seeds"
    result = init_seeds(str(target))
    assert result.exit_code == 0, result.output
    # detection_rules.csv is written from the Sigma rules by each build: not a seed to copy and edit.
    shipped = sorted(path.name for path in SHIPPED.glob("*.csv") if path.stem != "detection_rules")
    assert len(shipped) == 6 and sorted(path.name for path in target.iterdir()) == shipped
    for name in shipped:
        assert (target / name).read_bytes() == (SHIPPED / name).read_bytes()
    assert f"[models] seeds_dir = '{target}'" in result.stdout
    assert f"MODELS__SEEDS_DIR={target}" in result.stdout and f"--seeds-dir {target}" in result.stdout
    holidays = target / "holidays.csv"
    holidays.write_text(holidays.read_text(encoding="utf-8") + "2026-12-25,Christmas\n", encoding="utf-8")
    seeds = read_project_seeds(seeds_dir=target)
    assert {seed.path.parent for seed in seeds} == {target}
    assert [seed.rows for seed in seeds if seed.name == "holidays"][0][0][1] == "Christmas"


def test_init_seeds_refuses_to_overwrite_in_one_line_and_writes_nothing_unless_forced(tmp_path: Path) -> None:
    (tmp_path / "business_hours.csv").write_text("weekday,opens_at,closes_at\nsaturday,10:00,14:00\n", encoding="utf-8")
    refused = init_seeds(str(tmp_path))
    assert refused.exit_code == 2
    assert refused.stderr.count("\n") == 1 and "business_hours.csv exists" in refused.stderr and "--force" in refused.stderr
    assert [path.name for path in tmp_path.iterdir()] == ["business_hours.csv"]
    assert "saturday" in (tmp_path / "business_hours.csv").read_text(encoding="utf-8")
    forced = init_seeds(str(tmp_path), "--force")
    assert forced.exit_code == 0, forced.output
    assert (tmp_path / "business_hours.csv").read_bytes() == (SHIPPED / "business_hours.csv").read_bytes()
    assert len(list(tmp_path.glob("*.csv"))) == 6


def test_init_seeds_into_a_file_fails_in_one_line(tmp_path: Path) -> None:
    path = tmp_path / "seeds"
    path.write_text("not a folder", encoding="utf-8")
    result = init_seeds(str(path))
    assert result.exit_code == 2 and result.stderr == f"error: {path} is a file: give a folder for the seed copies\n"
