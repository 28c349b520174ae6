"""``nbo uplift``: fit and compare uplift/CATE models on a table."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Annotated, Any

import pandas as pd
import typer
from rich.table import Table

from nbo_engine.cli._app import app, console, fail
from nbo_engine.errors import FileFormatError, NboError

uplift_app = typer.Typer(
    help="Uplift and CATE models: fit, compare, predict.", no_args_is_help=True
)
app.add_typer(uplift_app, name="uplift")

_NORMALISATION = (
    "qini and auuc: area between the model's curve and the random line divided "
    "by that of the perfect curve (0 random, 1 perfect; = sklift qini_auc_score "
    "and uplift_auc_score); uplift_at_k: treated minus control mean outcome in "
    "the top k share of test rows; see docs/uplift.md"
)


def _read(path: Path) -> pd.DataFrame:
    if not path.exists():
        raise FileFormatError(f"--data: file {str(path)!r} does not exist")
    suffix = path.suffix.lower()
    try:
        if suffix in (".parquet", ".pq"):
            return pd.read_parquet(path)
        if suffix in (".csv", ".txt", ".gz"):
            return pd.read_csv(path, low_memory=False)
    except (ValueError, OSError) as exc:
        raise FileFormatError(f"--data: cannot read {str(path)!r}: {exc}") from None
    raise FileFormatError(
        f"--data: {str(path)!r} has suffix {suffix!r}, expected .csv or .parquet"
    )


def _num(x: float) -> float | None:
    return None if math.isnan(x) else round(float(x), 6)


@uplift_app.command("evaluate")
def evaluate(
    data: Annotated[Path, typer.Option("--data", help="CSV or Parquet table.")],
    treatment: Annotated[
        str, typer.Option("--treatment", help="Treatment column (0/1 or two labels).")
    ],
    outcome: Annotated[str, typer.Option("--outcome", help="Outcome column.")],
    features: Annotated[
        str | None,
        typer.Option(
            "--features", help="Comma-separated feature columns (default all others)."
        ),
    ] = None,
    treated_value: Annotated[
        str | None,
        typer.Option("--treated-value", help="Label of the treated arm."),
    ] = None,
    test_size: Annotated[
        float, typer.Option("--test-size", help="Share of rows held out for scoring.")
    ] = 0.3,
    seed: Annotated[int, typer.Option("--seed", help="Seed of split and models.")] = 0,
    predictions_out: Annotated[
        Path | None,
        typer.Option(
            "--predictions-out", help="Write test-row predictions (CSV or Parquet)."
        ),
    ] = None,
    models: Annotated[
        str | None,
        typer.Option(
            "--models", help="Comma-separated subset of models (default all)."
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Fit every uplift/CATE model on a train split; print Qini, AUUC, uplift@k."""
    from nbo_engine.evaluation.selection import MODELS
    from nbo_engine.evaluation.table import evaluate_table

    try:
        frame = _read(data)
        result = evaluate_table(
            frame,
            treatment=treatment,
            outcome=outcome,
            features=[f.strip() for f in features.split(",") if f.strip()]
            if features is not None
            else None,
            treated_value=treated_value,
            test_size=test_size,
            seed=seed,
            models=[m.strip() for m in models.split(",") if m.strip()]
            if models is not None
            else None,
        )
    except NboError as exc:
        raise fail(str(exc), code=2) from None

    rows: list[dict[str, Any]] = []
    for rank, res in enumerate(result.selection.results, start=1):
        s = res.scores
        rows.append(
            {
                "model": res.name,
                "rank": rank if s is not None else None,
                "qini": _num(s.qini) if s else None,
                "auuc": _num(s.auuc) if s else None,
                "uplift_at_10": _num(s.uplift_at_10) if s else None,
                "uplift_at_20": _num(s.uplift_at_20) if s else None,
                "uplift_at_30": _num(s.uplift_at_30) if s else None,
                "fit_seconds": round(res.fit_seconds, 3),
                "skipped": res.skipped or None,
            }
        )
    if predictions_out is not None:
        out = pd.DataFrame(
            {
                "row": result.test_rows,
                "treatment": result.treatment,
                "outcome": result.outcome,
            }
        )
        fitted = {m.name: m.uplift for m in result.selection.results}
        for name in MODELS:
            u = fitted.get(name)
            if u is not None:
                out[name] = u
        if predictions_out.suffix.lower() in (".parquet", ".pq"):
            out.to_parquet(predictions_out, index=False)
        else:
            out.to_csv(predictions_out, index=False)
    best = result.selection.best
    if as_json:
        doc = {
            "data": str(data),
            "treatment": treatment,
            "outcome": outcome,
            "features": list(result.features),
            "encoded_features": result.encoded_features,
            "rows": result.rows,
            "rows_dropped": result.rows_dropped,
            "test_rows": int(result.test_rows.size),
            "train_rows": result.rows
            - result.rows_dropped
            - int(result.test_rows.size),
            "seed": seed,
            "test_size": test_size,
            "best": best.name if best.scores is not None else None,
            "normalisation": _NORMALISATION,
            "models": rows,
        }
        typer.echo(json.dumps(doc, indent=2))
        return
    table = Table(
        title=f"Uplift models on {data.name}: {result.test_rows.size:,} test rows"
    )
    table.add_column("#")
    table.add_column("model", no_wrap=True)
    for head in ("Qini", "AUUC", "up@10%", "up@20%", "up@30%", "fit s"):
        table.add_column(head, justify="right")
    for r in rows:
        if r["skipped"]:
            table.add_row("-", r["model"], "skipped", "", "", "", "", "")
            continue
        table.add_row(
            str(r["rank"]),
            r["model"],
            *(
                "n/a" if r[k] is None else f"{r[k]:.4f}"
                for k in (
                    "qini",
                    "auuc",
                    "uplift_at_10",
                    "uplift_at_20",
                    "uplift_at_30",
                )
            ),
            f"{r['fit_seconds']:.1f}",
        )
    console.print(table)
    for r in rows:
        if r["skipped"]:
            console.print(f"[dim]{r['model']} skipped: {r['skipped']}[/]")
    console.print(f"[dim]{_NORMALISATION}[/]")
