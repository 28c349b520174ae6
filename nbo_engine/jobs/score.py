"""Refresh scores: features, CLV, churn, propensity, segments -> a new snapshot.

I/O orchestration (the computations are pure functions elsewhere):

1. open a snapshot row as ``running``;
2. score new service notes' sentiment once (cached in ``interaction_sentiment``);
3. train on a sample of customers: profiles at three past dates with the labels
   that followed (churn, take-up) and model selection over time folds; CLV
   models compared on a holdout and the winner fitted on the whole history;
   segments fitted on the sample's current profiles;
4. score every customer in chunks of customer ids (bounded memory), in
   ``workers`` processes if asked: ``score_range`` reads its own rows and
   rebuilds the models from JSON, so the same function would run on Dask
   partitions; the main process appends the rows;
5. register every model as a new version and flip the snapshot to
   ``succeeded`` in one transaction: the new snapshot becomes active at once,
   and a failed run leaves the previous one active.
"""

from __future__ import annotations

import datetime as dt
import importlib.metadata as md
import json
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from nbo_engine.features import build_features
from nbo_engine.features.sentiment import score_notes
from nbo_engine.ingest.schemas import SCHEMAS
from nbo_engine.scoring.churn import TASK as CHURN_TASK
from nbo_engine.scoring.churn import train_churn
from nbo_engine.scoring.models import load_model
from nbo_engine.scoring.propensity import (
    PropensityModel,
    next_best_product,
    train_propensity,
)
from nbo_engine.scoring.segmentation import (
    Segmentation,
    SegmentationConfig,
    segment_customers,
)
from nbo_engine.scoring.segmentation.assign import SegmentAssigner
from nbo_engine.scoring.training import label_dates
from nbo_engine.store import Engine, make_engine, read, write
from nbo_engine.store import scores as store
from nbo_engine.store.engine import analyze
from nbo_engine.store.queries import INPUT_TABLES, read_table, read_tables

__all__ = ["ScoreReport", "customer_chunks", "refresh_scores"]

Progress = Callable[[str, float], None]  # (stage, fraction done)
VADER = "vaderSentiment-" + md.version("vaderSentiment")
CATEGORICAL: dict[str, Sequence[str]] = {
    name: [c.name for c in s.columns if c.kind == "enum"] for name, s in SCHEMAS.items()
}
CONTEXT = (
    "age",
    "tenure_days",
    "income_level",
    "n_products",
    "rfm_recency_days",
    "rfm_count_90",
    "rfm_sum_365",
    "dig_logins_30",
    "svc_complaints_365",
    "svc_sentiment_365",
    "bal_deposits",
    "bal_debt",
    "chan_digital_share",
    "marketing_consent",
    "do_not_contact",
    "life_stage",
)


@dataclass
class ScoreReport:
    """What a refresh produced."""

    snapshot_id: int
    as_of: dt.date
    n_customers: int = 0
    models: dict[str, int] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0
    stages: dict[str, float] = field(default_factory=dict)


def _libraries() -> dict[str, str]:
    names = ("numpy", "pandas", "scikit-learn", "lightgbm", "scipy", "vaderSentiment")
    return {n: md.version(n) for n in names}


def default_as_of(engine: Engine) -> dt.date:
    """The last day with transactions in the store."""
    frame = read_table(engine, "transactions", columns=["timestamp"])
    if frame.empty:
        raise ValueError("the store has no transactions; load data first (nbo ingest)")
    return pd.Timestamp(frame["timestamp"].max()).date()


def customer_chunks(engine: Engine, size: int) -> list[tuple[str, str]]:
    """Half-open customer id ranges ``[lo, hi)`` of about ``size`` customers."""
    ids = np.sort(
        read_table(engine, "customers", columns=["customer_id"])["customer_id"]
        .astype(str)
        .to_numpy()
    )
    if ids.size == 0:
        return []
    starts = ids[::size].tolist()
    ends = [*starts[1:], ids[-1] + "\uffff"]
    return list(zip(starts, ends, strict=True))


def _cache_sentiment(engine: Engine) -> int:
    with read(engine) as conn:
        notes = store.unscored_notes(conn)
    if notes.empty:
        return 0
    notes["compound"] = score_notes(
        notes["note"].fillna("").astype(str).to_numpy(dtype=object)
    )
    with write(engine) as conn:
        return store.store_sentiment(conn, notes, VADER)


def _with_sentiment(
    tables: dict[str, pd.DataFrame], sentiment: pd.Series
) -> dict[str, pd.DataFrame]:
    inter = tables["interactions"]
    inter = inter.assign(
        sentiment=inter["interaction_id"]
        .map(sentiment)
        .fillna(0.0)
        .to_numpy(np.float64)
    )
    return {**tables, "interactions": inter}


def refresh_scores(
    engine: Engine | None = None,
    as_of: dt.date | str | None = None,
    *,
    train_sample: int = 100_000,
    chunk_customers: int = 100_000,
    churn_families: tuple[str, ...] = ("logistic", "lightgbm", "random_forest", "mlp"),
    propensity_families: tuple[str, ...] = ("logistic", "lightgbm"),
    seed: int = 0,
    workers: int = 1,
    progress: Progress | None = None,
) -> ScoreReport:
    """Compute and store a new score snapshot as of ``as_of`` (see module doc).

    ``workers`` processes score chunks in parallel (each reads its customers'
    rows itself; the main process writes), used when there are several chunks.
    """
    engine = engine or make_engine()
    day = pd.Timestamp(as_of).date() if as_of is not None else default_as_of(engine)
    t_start = time.perf_counter()
    snapshot_id = store.start_snapshot(engine, day)
    report = ScoreReport(snapshot_id, day)

    def stage(name: str, fraction: float, t0: float) -> float:
        report.stages[name] = round(time.perf_counter() - t0, 3)
        if progress is not None:
            progress(name, fraction)
        return time.perf_counter()

    try:
        t = time.perf_counter()
        report.metrics["notes_scored"] = _cache_sentiment(engine)
        sentiment = store.sentiment_frame(engine).set_index("interaction_id")[
            "compound"
        ]
        t = stage("sentiment", 0.05, t)

        # ---------------------------------------------------------- training
        rng = np.random.default_rng(seed)
        all_ids = np.sort(  # a reproducible sample whatever the read order
            read_table(engine, "customers", columns=["customer_id"])["customer_id"]
            .astype(str)
            .to_numpy()
        )
        sample = (
            np.sort(rng.choice(all_ids, size=train_sample, replace=False))
            if all_ids.size > train_sample
            else all_ids
        )
        tables = _with_sentiment(
            read_tables(
                engine,
                INPUT_TABLES,
                customer_ids=sample.tolist(),
                categorical=CATEGORICAL,
            ),
            sentiment,
        )
        dates = label_dates(pd.Timestamp(day))
        frames = [build_features(tables, d) for d in dates]
        current = build_features(tables, day)
        t = stage("features", 0.25, t)
        churn = train_churn(
            frames, dates, tables["accounts"], families=churn_families, seed=seed
        )
        t = stage("churn", 0.4, t)
        propensity = train_propensity(
            frames, dates, tables["accounts"], families=propensity_families, seed=seed
        )
        t = stage("propensity", 0.55, t)
        clv = _train_clv(engine, day, seed, sample, chunk_customers)
        t = stage("clv", 0.6, t)
        current = current.assign(
            clv_12m=clv["predict"](current.index)["clv"].to_numpy()
        )
        seg = segment_customers(
            current,
            "clv_12m",
            np.random.default_rng(seed),
            SegmentationConfig(unstable="single"),
        )
        if seg.segmenter.model.method == "single":
            report.metrics["warnings"] = [
                "no behavioural clustering passed validation on "
                f"{min(len(current), SegmentationConfig.sample_size)} customers "
                "(bootstrap ARI >= 0.8 and the size rules); every customer is in "
                "one cluster, 'all customers', this snapshot; see `nbo models "
                "list --task segments` for each candidate's reason"
            ]
        assigner = SegmentAssigner.from_segmentation(seg)
        t = stage("segments", 0.65, t)
        del frames, tables, sentiment

        # ---------------------------------------------------------- scoring
        n_total = 0
        counts: dict[tuple[str, str], int] = {}
        values: dict[tuple[str, str], float] = {}
        chunks = customer_chunks(engine, chunk_customers)
        models = ChunkModels(
            churn.model.to_json(),
            json.dumps(propensity.to_dict()),
            assigner.to_json(),
        )
        clv_all = clv["predictions"]
        jobs = [
            (url_of(engine), lo, hi, day, models, clv_all.loc[lo:hi])
            for lo, hi in chunks
        ]
        for i, scores in enumerate(_map_chunks(jobs, workers)):
            _count_segments(scores, scores["clv_12m"], counts, values)
            # One short transaction per chunk: other writers are not held up;
            # the rows stay invisible until the snapshot is marked succeeded.
            with write(engine) as conn:
                n_total += store.write_scores(conn, snapshot_id, scores)
            if progress is not None:
                progress("scoring", 0.65 + 0.3 * (i + 1) / max(len(chunks), 1))
        t = stage("scoring", 0.95, t)
        with write(engine) as conn:
            versions = {
                CHURN_TASK: store.register_model(
                    conn,
                    task=CHURN_TASK,
                    family=churn.winner,
                    as_of=day,
                    artefact=churn.model.to_json(),
                    training={
                        "dates": [str(d.date()) for d in dates],
                        "sample": int(sample.size),
                    },
                    features=churn.model.features,
                    metrics=churn.metrics(),
                    libraries=_libraries(),
                ),
                "propensity": store.register_model(
                    conn,
                    task="propensity",
                    family="+".join(
                        sorted({m.family for m in propensity.models.values()})
                    ),
                    as_of=day,
                    artefact=json.dumps(propensity.to_dict()),
                    training={
                        "dates": [str(d.date()) for d in dates],
                        "sample": int(sample.size),
                    },
                    features=sorted(
                        {f for m in propensity.models.values() for f in m.features}
                    ),
                    metrics=propensity.metrics,
                    libraries=_libraries(),
                ),
                "clv": store.register_model(
                    conn,
                    task="clv",
                    family=clv["family"],
                    as_of=day,
                    artefact=json.dumps(clv["artefact"]),
                    training=clv["training"],
                    features=[],
                    metrics=clv["metrics"],
                    libraries=_libraries(),
                ),
            }
            versions["segments"] = store.register_model(
                conn,
                task="segments",
                family=seg.segmenter.model.method,
                as_of=day,
                artefact=assigner.to_json(),
                training={"sample": len(current)},
                features=[f.column for f in seg.segmenter.features],
                metrics={"candidates": seg.fit.candidates.to_dict("records")},
                libraries=_libraries(),
            )
            store.write_segment_profiles(
                conn, snapshot_id, _profiles(seg, counts, values, n_total)
            )
            report.models = versions
            report.n_customers = n_total
            report.seconds = time.perf_counter() - t_start
            report.metrics.update(
                {
                    "churn": churn.metrics(),
                    "propensity": {
                        p: m["blended_holdout"] for p, m in propensity.metrics.items()
                    },
                    "clv": clv["metrics"],
                }
            )
            store.finish_snapshot(
                conn,
                snapshot_id,
                status="succeeded",
                models=versions,
                n_customers=n_total,
                seconds=report.seconds,
            )
        analyze(engine, ["customer_scores", "segment_profiles"])
        stage("done", 1.0, t)
        return report
    except BaseException as exc:
        with write(engine) as conn:
            store.finish_snapshot(
                conn,
                snapshot_id,
                status="failed",
                error=f"{type(exc).__name__}: {exc}\n" + traceback.format_exc(limit=8),
                seconds=time.perf_counter() - t_start,
            )
        raise


def _count_segments(
    segments: pd.DataFrame,
    value: pd.Series,
    counts: dict[tuple[str, str], int],
    values: dict[tuple[str, str], float],
) -> None:
    """Accumulate segment sizes and value sums over the whole base."""
    for kind, col in (
        ("value_tier", "value_tier"),
        ("cluster", "cluster"),
        ("life_stage", "life_stage"),
        ("product_affinity", "product_affinity"),
        ("micro_segment", "micro_segment"),
    ):
        grouped = value.groupby(segments[col].to_numpy()).agg(["size", "sum"])
        for name, row in grouped.iterrows():
            key = (kind, str(name))
            counts[key] = counts.get(key, 0) + int(row["size"])
            values[key] = values.get(key, 0.0) + float(row["sum"])


def _profiles(
    seg: Segmentation,
    counts: dict[tuple[str, str], int],
    values: dict[tuple[str, str], float],
    n_total: int,
) -> list[dict[str, Any]]:
    """Segment profiles: generated descriptions from the training sample, sizes
    and mean value over the whole base."""
    total_value = sum(v for (k, _), v in values.items() if k == "value_tier")
    bank_mean = total_value / max(n_total, 1)
    described = {("cluster", p.segment): p for p in seg.clusters.profiles}
    described.update(
        {("micro_segment", p.segment): p for p in seg.micro_report.profiles}
    )
    out = []
    for (kind, name), size in sorted(counts.items()):
        mean = values[(kind, name)] / max(size, 1)
        ratio = mean / bank_mean if bank_mean > 0 else float("nan")
        share = size / max(n_total, 1)
        p = described.get((kind, name))
        if p is not None:
            text = p.summary
            stats = {
                "value_mean": mean,
                "value_ratio": ratio,
                "sample_size": p.size,
                "traits": p.traits.head(8).to_dict("records"),
            }
            label = p.name
        else:
            text = (
                f"{share:.0%} of customers; mean 12-month value {mean:,.0f} "
                f"({ratio:.1f}x the bank's)"
            )
            stats = {"value_mean": mean, "value_ratio": ratio}
            label = name
        out.append(
            {
                "kind": kind,
                "segment": name,
                "name": label,
                "size": size,
                "share": share,
                "description": text,
                "stats": stats,
            }
        )
    return out


def _clv_for(predictions: pd.DataFrame, index: pd.Index) -> pd.DataFrame:
    got = predictions.reindex(index.astype(str))
    # Customers with no purchase yet: no value expected from purchases.
    return got.fillna({"clv": 0.0, "expected_purchases": 0.0, "p_alive": 0.0})


@dataclass(frozen=True)
class ChunkModels:
    """The fitted models as JSON, so a worker process can rebuild them."""

    churn: str
    propensity: str
    segments: str


def url_of(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=False)


ChunkJob = tuple[str, str, str, dt.date, ChunkModels, pd.DataFrame]


def score_range(job: ChunkJob) -> pd.DataFrame:
    """Scores and segments of the customers ``lo <= id < hi`` (one chunk).

    Self-contained (reads its rows, rebuilds the models from JSON), so it runs
    the same in this process, in a worker process or on a cluster.
    """
    url, lo, hi, day, models, clv_part = job
    engine = make_engine(url)
    part = read_tables(
        engine, INPUT_TABLES, customer_range=(lo, hi), categorical=CATEGORICAL
    )
    sentiment = store.sentiment_frame(engine, customer_range=(lo, hi))
    part = _with_sentiment(part, sentiment.set_index("interaction_id")["compound"])
    profile = build_features(part, day)
    scores = _score_chunk(
        profile,
        load_model(models.churn),
        PropensityModel.from_dict(json.loads(models.propensity)),
        lambda index: _clv_for(clv_part, index),
    )
    segments = SegmentAssigner.from_json(models.segments).assign(
        profile, scores["clv_12m"].to_numpy()
    )
    return scores.drop(columns=["life_stage"], errors="ignore").join(segments)


def _map_chunks(jobs: list[ChunkJob], workers: int) -> Iterator[pd.DataFrame]:
    """``score_range`` over ``jobs`` in order: inline, or in ``workers``
    processes (spawned: no OpenMP state is inherited) with at most
    ``workers + 1`` chunks in flight, so memory stays bounded."""
    if workers <= 1 or len(jobs) <= 1:
        for job in jobs:
            yield score_range(job)
        return
    import multiprocessing as mp
    from concurrent.futures import Future, ProcessPoolExecutor

    with ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn")) as pool:
        pending: list[Future[pd.DataFrame]] = []
        todo = iter(jobs)
        for job in todo:
            pending.append(pool.submit(score_range, job))
            if len(pending) > workers:
                break
        while pending:
            done = pending.pop(0).result()
            nxt = next(todo, None)
            if nxt is not None:
                pending.append(pool.submit(score_range, nxt))
            yield done


def _score_chunk(
    profile: pd.DataFrame,
    churn_model: Any,
    propensity: PropensityModel,
    clv_predict: Callable[[pd.Index], pd.DataFrame],
) -> pd.DataFrame:
    out = pd.DataFrame(index=profile.index)
    out["churn_90d"] = churn_model.predict_proba(profile)
    props = propensity.predict(profile)
    out = out.join(props)
    out["next_best_product"] = next_best_product(props)
    clv = clv_predict(profile.index)
    out["clv_12m"] = clv["clv"].to_numpy(np.float64)
    out["expected_purchases_12m"] = clv["expected_purchases"].to_numpy(np.float64)
    out["p_alive"] = clv["p_alive"].to_numpy(np.float64)
    for c in CONTEXT:
        if c in profile:
            out[c] = profile[c]
    for flag in ("marketing_consent", "do_not_contact"):
        if flag in out:
            out[flag] = out[flag].fillna(0).astype(bool)
    return out


def _train_clv(
    engine: Engine,
    day: dt.date,
    seed: int,
    sample: np.ndarray,
    chunk_customers: int,
) -> dict[str, Any]:
    """Choose the CLV model on a holdout of the training sample's history, fit
    it on every customer's RFM summary, and return a predictor plus the
    registry payload.

    The summary is built chunk by chunk of customer ids (it is per customer,
    so chunking is exact): the whole transaction table is never in memory.
    """
    from nbo_engine.scoring import fit_clv, normalize_transactions, summarize
    from nbo_engine.scoring.clv_evaluate import select_clv_model
    from nbo_engine.scoring.rfm import RFMSummary

    def log_of(**which: Any) -> pd.DataFrame:
        tx = read_table(
            engine,
            "transactions",
            columns=["customer_id", "timestamp", "amount"],
            categorical=["customer_id"],
            **which,
        )
        return normalize_transactions(tx.rename(columns={"timestamp": "date"}))

    end = np.datetime64(day, "D")
    best, evaluation = select_clv_model(
        log_of(customer_ids=[str(c) for c in sample]),
        end,
        seed=seed,
        models=("bgnbd", "pareto_nbd", "mbgnbd"),
    )
    parts = [
        summarize(log_of(customer_range=(lo, hi)), end, "D").to_frame()
        for lo, hi in customer_chunks(engine, chunk_customers)
    ]
    summary = RFMSummary.from_frame(pd.concat(parts), period_days=1.0)
    model = fit_clv(
        summary, best if best in ("bgnbd", "pareto_nbd", "mbgnbd") else "bgnbd"
    )
    predictions = model.predict(summary)
    predictions.index = predictions.index.astype(str)
    predictions = predictions.sort_index()

    def predict(index: pd.Index) -> pd.DataFrame:
        return _clv_for(predictions, index)

    return {
        "family": model.model,
        "artefact": model.to_dict(),
        "predict": predict,
        "predictions": predictions,
        "training": {
            "customers": int(summary.n),
            "holdout_days": 182,
            "model_choice_sample": len(sample),
        },
        "metrics": {
            "chosen": best,
            "params": model.params,
            "evaluation": evaluation.to_dict()
            if hasattr(evaluation, "to_dict")
            else str(evaluation),
        },
    }
