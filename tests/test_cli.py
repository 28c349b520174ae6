"""The ``nbo`` command: help texts, the data contract, errors and exit codes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from nbo_engine.cli import app
from nbo_engine.ingest.schemas import contract_markdown

runner = CliRunner()
ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["db"],
        ["quarantine"],
        ["simulate"],
        ["ingest"],
        ["contract"],
        ["db", "upgrade"],
        ["quarantine", "export"],
    ],
)
def test_help(args: list[str]) -> None:
    result = runner.invoke(app, [*args, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage" in result.output


def test_contract_doc_is_generated_from_the_schemas() -> None:
    doc = (ROOT / "docs" / "data-contract.md").read_text()
    assert doc.strip() == contract_markdown().strip(), (
        "run `nbo contract --out docs/data-contract.md`"
    )


def _nbo(args: list[str], url: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NBO_DATABASE_URL": url, "COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-m", "nbo_engine.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_simulate_ingest_status_end_to_end(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'x.db'}"
    out = tmp_path / "bank"
    r = _nbo(["ingest", str(out)], url)
    assert r.returncode == 1
    assert "run `nbo db upgrade`" in r.stderr
    assert _nbo(["db", "upgrade"], url).returncode == 0
    r = _nbo(
        ["simulate", "--customers", "300", "--weeks", "20", "--out", str(out)], url
    )
    assert r.returncode == 0, r.stderr
    r = _nbo(["ingest", str(out)], url)
    assert r.returncode == 0, r.stderr
    assert "Ingest summary" in r.stdout
    assert "transactions.csv" in r.stdout
    r = _nbo(["quarantine", "list", "--entity", "transactions", "--limit", "3"], url)
    assert r.returncode == 0
    assert "transactions.csv row" in r.stdout
    export = tmp_path / "bad.csv"
    r = _nbo(["quarantine", "export", "--out", str(export)], url)
    assert r.returncode == 0
    assert export.exists()
    assert _nbo(["db", "status"], url).returncode == 0


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (
            ["simulate", "--out", "x", "--format", "xlsx"],
            2,
            "--format: expected csv or parquet, got 'xlsx'",
        ),
        (
            ["simulate", "--out", "x", "--end-date", "tomorrow"],
            2,
            "--end-date: expected YYYY-MM-DD, got 'tomorrow'",
        ),
        (["ingest", ".", "--entity", "loans"], 2, "--entity: unknown entity 'loans'"),
        (["ingest", ".", "--as-of", "soon"], 2, "--as-of: expected YYYY-MM-DD"),
    ],
)
def test_usage_errors(args: list[str], code: int, message: str) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code == code
    assert message in result.output


def test_bad_file_exits_non_zero_with_the_reason(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'x.db'}"
    assert _nbo(["db", "upgrade"], url).returncode == 0
    bad = tmp_path / "market.csv"
    bad.write_text("week,rate\n2024-01-01,5\n")
    r = _nbo(["ingest", "--entity", "market", str(bad)], url)
    assert r.returncode == 1
    assert "missing required column(s) week_start" in r.stderr
