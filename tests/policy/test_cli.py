"""``nbo policy validate``."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

import nbo_engine.cli.policy  # noqa: F401  (registers the command)
from nbo_engine.cli import app

CATALOG = Path(__file__).resolve().parents[2] / "policies" / "catalog.yaml"


def test_validate_ok() -> None:
    result = CliRunner().invoke(app, ["policy", "validate", str(CATALOG)])
    assert result.exit_code == 0, result.output
    assert "OK" in result.output
    assert "10 offers" in result.output
    assert "channels: web, mobile, branch, call_centre, email" in result.output
    assert "bandit: linucb (alpha=1.0)" in result.output


def test_validate_lists_every_problem(tmp_path: Path) -> None:
    text = CATALOG.read_text()
    text = text.replace("cost: 4.0", "cost: -4.0").replace(
        'not holds("savings") and age >= 16', 'not holds("savings") and agee >= 16'
    )
    bad = tmp_path / "bad.yaml"
    bad.write_text(text)
    result = CliRunner().invoke(app, ["policy", "validate", str(bad)])
    assert result.exit_code == 1
    lines = text.splitlines()
    cost_line = next(i for i, t in enumerate(lines, 1) if "cost: -4.0" in t)
    rule_line = next(i for i, t in enumerate(lines, 1) if "agee" in t)
    assert (
        f"bad.yaml:{cost_line} offers[4].value.cost: expected number >= 0.0, got -4.0"
        in result.output
    )
    assert (
        f"bad.yaml:{rule_line} offers[2].eligibility: rule line 1, column 26: "
        "unknown field 'agee' (did you mean 'age'?)"
    ) in result.output
    assert "bad.yaml: 2 problems" in " ".join(result.output.split())


def test_validate_missing_file(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["policy", "validate", str(tmp_path / "no.yaml")])
    assert result.exit_code == 1
    assert "no such file" in result.output
