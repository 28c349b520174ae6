"""``nbo score``, ``nbo scores show``, ``nbo segments show|migration``,
``nbo models list``."""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from nbo_engine.cli._app import app, console, engine, err, fail, require_migrated
from nbo_engine.errors import NboError

if TYPE_CHECKING:
    from nbo_engine.jobs.score import ScoreReport

scores_app = typer.Typer(
    help="Look up a customer's scores and segments.", no_args_is_help=True
)
segments_app = typer.Typer(
    help="Segment profiles of a score snapshot.", no_args_is_help=True
)
models_app = typer.Typer(
    help="Trained model versions and their metrics.", no_args_is_help=True
)
app.add_typer(scores_app, name="scores")
app.add_typer(segments_app, name="segments")
app.add_typer(models_app, name="models")


def headline(task: str, metrics: dict[str, Any]) -> str:
    """One figure a reader can compare across versions of a model."""
    if task == "propensity":
        aucs = [
            m["holdout"]["auc"]
            for m in metrics.values()
            if isinstance(m, dict) and (m.get("holdout") or {}).get("auc") is not None
        ]
        return (
            f"mean AUC {sum(aucs) / len(aucs):.3f} ({len(aucs)} products)"
            if aucs
            else ""
        )
    if task == "clv":
        chosen = metrics.get("chosen")
        models = (metrics.get("evaluation") or {}).get("models") or {}
        gini = (models.get(chosen) or {}).get("normalized_gini")
        return f"holdout norm. Gini {gini:.3f}" if gini is not None else ""
    if task == "segments":
        best = [c for c in metrics.get("candidates", []) if c.get("chosen")]
        if best and best[0].get("silhouette") is not None:
            return f"{best[0]['label']}, silhouette {best[0]['silhouette']:.3f}"
        return ""
    auc = (metrics.get("holdout") or {}).get("auc")
    return f"AUC {auc:.3f}" if auc is not None else ""


@app.command()
def score(
    as_of: Annotated[
        str | None,
        typer.Option(
            help="Score date YYYY-MM-DD (default: the last day with transactions)."
        ),
    ] = None,
    train_sample: Annotated[
        int, typer.Option(min=1000, help="Customers sampled to train the models.")
    ] = 100_000,
    chunk: Annotated[
        int, typer.Option(min=1000, help="Customers scored at a time (bounds memory).")
    ] = 100_000,
    workers: Annotated[
        int,
        typer.Option(
            min=1,
            help="Processes scoring chunks in parallel (default: the CPU count, "
            "at most 4; each holds one chunk in memory).",
        ),
    ] = min(4, os.cpu_count() or 1),
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    json_out: Annotated[
        bool, typer.Option("--json", help="Print the report as JSON.")
    ] = False,
) -> None:
    """Compute features, CLV, churn, propensity and segments; store a new snapshot.

    The snapshot becomes the active one only when every customer is scored;
    earlier snapshots are kept.
    """
    import datetime as dt

    from nbo_engine.jobs.score import refresh_scores

    day = None
    if as_of is not None:
        try:
            day = dt.date.fromisoformat(as_of)
        except ValueError:
            raise fail(f"--as-of: expected YYYY-MM-DD, got {as_of!r}", 2) from None
    try:
        require_migrated()
        with console.status("scoring") as status:

            def tick(stage: str, fraction: float) -> None:
                status.update(f"scoring: {stage} ({fraction:.0%})")

            report = refresh_scores(
                engine(),
                day,
                train_sample=train_sample,
                chunk_customers=chunk,
                seed=seed,
                workers=workers,
                progress=tick,
            )
    except (NboError, ValueError) as exc:
        raise fail(str(exc)) from None
    if json_out:
        console.print_json(
            json.dumps(
                {
                    "snapshot_id": report.snapshot_id,
                    "as_of": str(report.as_of),
                    "n_customers": report.n_customers,
                    "models": report.models,
                    "seconds": round(report.seconds, 2),
                    "stages": report.stages,
                    "metrics": report.metrics,
                },
                default=float,
            )
        )
        return
    _print_report(report)


def _print_report(report: ScoreReport) -> None:
    console.print(
        f"snapshot [bold]{report.snapshot_id}[/] as of {report.as_of}: "
        f"{report.n_customers:,} customers in {report.seconds:.1f} s"
    )
    m = report.metrics
    t = Table(
        "model",
        "family",
        "holdout AUC",
        "log loss",
        "notes",
        title="Model metrics (out of time)",
    )
    churn = m.get("churn", {})
    hold = churn.get("holdout", {})
    others = ", ".join(
        f"{c['family']} {c['mean_auc']:.3f}" for c in churn.get("candidates", [])
    )
    t.add_row(
        "churn_90d",
        churn.get("winner", ""),
        f"{hold.get('auc', float('nan')):.3f}",
        f"{hold.get('logloss', float('nan')):.4f}",
        f"candidates: {others}",
    )
    for product, h in m.get("propensity", {}).items():
        t.add_row(
            f"propensity_{product}",
            "blend",
            f"{h.get('auc', float('nan')):.3f}",
            f"{h.get('logloss', float('nan')):.4f}",
            f"base rate {h.get('base_rate', 0):.3%}",
        )
    clv = m.get("clv", {})
    t.add_row(
        "clv_12m",
        str(clv.get("chosen", "")),
        "",
        "",
        headline("clv", clv),
    )
    console.print(t)
    for warning in m.get("warnings", []):
        err.print(f"[yellow]warning:[/] {escape(warning)}", soft_wrap=True)
    stages = ", ".join(f"{k} {v:.1f}s" for k, v in report.stages.items())
    console.print(f"stages: {stages}")


@scores_app.command("show")
def scores_show(
    customer: Annotated[str, typer.Argument(help="Customer id, e.g. C00000042.")],
    snapshot: Annotated[
        int | None, typer.Option(help="Snapshot id (default: the active one).")
    ] = None,
) -> None:
    """A customer's scores, segments and context features."""
    from nbo_engine.store import scores as store

    try:
        require_migrated()
    except NboError as exc:
        raise fail(str(exc)) from None
    row = store.customer_scores(engine(), customer, snapshot)
    if row is None:
        raise fail(
            f"no scores for customer {customer!r}"
            + (
                f" in snapshot {snapshot}"
                if snapshot
                else " in the active snapshot (run `nbo score`)"
            )
        )
    t = Table("field", "value", title=f"{customer} (snapshot {row['snapshot_id']})")
    for k, v in row.items():
        if k in ("snapshot_id", "customer_id"):
            continue
        t.add_row(k, f"{v:.4g}" if isinstance(v, float) else str(v))
    console.print(t)


@segments_app.command("show")
def segments_show(
    snapshot: Annotated[
        int | None, typer.Option(help="Snapshot id (default: the active one).")
    ] = None,
    kind: Annotated[
        str | None,
        typer.Option(
            help="Only this kind: value_tier, "
            "cluster, life_stage, product_affinity, "
            "micro_segment."
        ),
    ] = None,
) -> None:
    """Segment profiles in words: size, value, what sets each segment apart."""
    from nbo_engine.store import scores as store

    try:
        require_migrated()
    except NboError as exc:
        raise fail(str(exc)) from None
    e = engine()
    if snapshot is None:
        snap = store.latest_snapshot(e)
        if snap is None:
            raise fail("no score snapshot yet; run `nbo score`")
        snapshot = int(snap["id"])
    profiles = store.segment_profiles(e, snapshot)
    if kind:
        profiles = profiles[profiles["kind"] == kind]
    if profiles.empty:
        err.print(f"no segment profiles in snapshot {snapshot}")
        return
    for k, group in profiles.groupby("kind", sort=False):
        t = Table(
            "segment",
            "size",
            "share",
            "profile",
            title=f"{k} (snapshot {snapshot})",
            show_lines=True,
        )
        for row in group.itertuples():
            t.add_row(
                str(row.name),
                f"{int(str(row.size)):,}",
                f"{float(str(row.share)):.1%}",
                str(row.description),
            )
        console.print(t)


SEGMENT_KINDS = (
    "value_tier",
    "cluster",
    "life_stage",
    "product_affinity",
    "micro_segment",
)


@segments_app.command("migration")
def segments_migration(
    before: Annotated[int, typer.Option("--from", help="Earlier snapshot id.")],
    after: Annotated[
        int | None,
        typer.Option("--to", help="Later snapshot id (default: the active one)."),
    ] = None,
    kind: Annotated[
        str, typer.Option(help="Segment kind: " + ", ".join(SEGMENT_KINDS) + ".")
    ] = "value_tier",
    shares: Annotated[
        bool, typer.Option("--shares", help="Row shares instead of counts.")
    ] = False,
) -> None:
    """How customers moved between segments from one snapshot to another.

    Rows are the earlier segment, columns the later; ``(new)`` and ``(gone)``
    hold customers present in only one snapshot. Cluster names are compared as
    written: a refit may name clusters differently, value tiers and life stages
    are stable.
    """
    from nbo_engine.scoring.segmentation import migration_matrix
    from nbo_engine.store import scores as store

    if kind not in SEGMENT_KINDS:
        raise fail(
            f"--kind: unknown segment kind {kind!r}; expected one of "
            + ", ".join(SEGMENT_KINDS),
            2,
        )
    try:
        require_migrated()
    except NboError as exc:
        raise fail(str(exc)) from None
    e = engine()
    if after is None:
        snap = store.latest_snapshot(e)
        if snap is None:
            raise fail("no score snapshot yet; run `nbo score`")
        after = int(snap["id"])
    known = set(store.snapshots(e, limit=10_000)["id"].astype(int))
    for option, sid in (("--from", before), ("--to", after)):
        if sid not in known:
            raise fail(f"{option}: no snapshot {sid}; see `nbo segments show`", 2)
    b = store.snapshot_scores(e, before, [kind])[kind]
    a = store.snapshot_scores(e, after, [kind])[kind]
    m = migration_matrix(b, a)
    frame = m.shares if shares else m.counts
    t = Table(
        f"snapshot {before} (rows)",
        *[str(c) for c in frame.columns],
        title=f"{kind}: snapshot {before} -> {after}; {m.stayed:.1%} stayed",
    )
    for label, row in frame.iterrows():
        cells = [f"{v:.1%}" if shares else f"{int(v):,}" for v in row.to_numpy()]
        t.add_row(str(label), *cells)
    console.print(t)


@models_app.command("list")
def models_list(
    task: Annotated[str | None, typer.Option(help="Only this task.")] = None,
    limit: Annotated[int, typer.Option(min=1, help="At most this many.")] = 20,
) -> None:
    """Model versions, newest first."""
    from nbo_engine.store import scores as store

    try:
        require_migrated()
    except NboError as exc:
        raise fail(str(exc)) from None
    frame = store.model_versions(engine(), task=task, limit=limit)
    t = Table(
        "id", "task", "family", "as of", "headline metric", title="Model versions"
    )
    for row in frame.itertuples():
        metrics = json.loads(str(row.metrics))
        head = headline(str(row.task), metrics)
        t.add_row(str(row.id), str(row.task), str(row.family), str(row.as_of), head)
    console.print(t)
