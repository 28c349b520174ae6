"""Segmentation speed at a million customers, against scikit-learn run whole.

Usage::

    python benchmarks/segments_speed.py [--customers 1000000] [--dims 8]

Data: ``--customers`` rows in ``--dims`` dimensions drawn from five overlapping
Gaussian clusters (the shape of the scaled behavioural features). Measured:

* k-means (k=5): ours = KMeans fitted on a 10,000-customer sample (n_init=3)
  plus nearest-centroid assignment of everyone; peers = scikit-learn KMeans
  (n_init=1) and MiniBatchKMeans on all rows.
* density clustering: ours = HDBSCAN on a 5,000-customer sample plus nearest-
  exemplar assignment (with noise) of everyone; peer = scikit-learn HDBSCAN
  fitted on 50,000 rows (whole-data HDBSCAN at 1M does not finish in minutes).
* ``assign_segment`` latency for one customer (dict row), per method.

Prints a table and writes ``benchmarks/out/segments_speed.json``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.cluster import HDBSCAN, KMeans, MiniBatchKMeans
from sklearn.metrics import adjusted_rand_score

from nbo_engine.scoring.segmentation import (
    CandidateSpec,
    FeatureSpec,
    Scaler,
    Segmenter,
    assign_segment,
)
from nbo_engine.scoring.segmentation.algorithms import fit_family

OUT = Path(__file__).resolve().parents[1] / "benchmarks" / "out"


def data(n: int, d: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    centres = rng.normal(0, 2.0, size=(5, d))
    truth = rng.choice(5, n)
    return centres[truth] + rng.normal(size=(n, d)), truth


def timed(fn):  # type: ignore[no-untyped-def]
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def ours(
    method: str,
    spec: CandidateSpec,
    x: np.ndarray,
    sample: int,
    rng: np.random.Generator,
) -> tuple[Segmenter, np.ndarray]:
    rows = rng.choice(len(x), sample, replace=False)
    model, _ = fit_family(method, [spec], x[rows], rng)[0]
    d = x.shape[1]
    seg = Segmenter(
        tuple(FeatureSpec(f"f{j}", f"f{j}") for j in range(d)),
        Scaler(np.zeros(d), np.ones(d)),
        model,
        tuple(f"c{i}" for i in range(model.n_clusters)),
    )
    return seg, model.predict(x)


def latency(seg: Segmenter, x: np.ndarray) -> float:
    rows = [{f"f{j}": float(v) for j, v in enumerate(r)} for r in x[:2000]]
    for r in rows[:100]:
        assign_segment(seg, r)
    t0 = time.perf_counter()
    for r in rows:
        assign_segment(seg, r)
    return (time.perf_counter() - t0) / len(rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--customers", type=int, default=1_000_000)
    ap.add_argument("--dims", type=int, default=8)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)
    x, truth = data(args.customers, args.dims, rng)
    rows = []

    def row(
        task: str, impl: str, seconds: float, labels: np.ndarray | None, note: str = ""
    ) -> None:
        ari = (
            float(adjusted_rand_score(truth[: len(labels)], labels))
            if labels is not None
            else float("nan")
        )
        rows.append(
            {"task": task, "impl": impl, "seconds": seconds, "ari": ari, "note": note}
        )
        print(
            f"{task:<10} {impl:<42} {seconds:9.3f} s  ARI {ari:.3f}  {note}", flush=True
        )

    (km_seg, lab), s = timed(
        lambda: ours("kmeans", CandidateSpec("kmeans", k=5), x, 10_000, rng)
    )
    row("kmeans", "nbo (10k sample + assign all)", s, lab)
    km_full, s = timed(lambda: KMeans(5, n_init=1, random_state=0).fit(x))
    row("kmeans", "sklearn KMeans (all rows, n_init=1)", s, km_full.labels_)
    mb, s = timed(
        lambda: MiniBatchKMeans(5, n_init=1, random_state=0, batch_size=4096).fit(x)
    )
    row("kmeans", "sklearn MiniBatchKMeans (all rows)", s, mb.labels_)

    (hd_seg, lab), s = timed(
        lambda: ours(
            "hdbscan", CandidateSpec("hdbscan", min_cluster_share=0.02), x, 5_000, rng
        )
    )
    row(
        "density",
        "nbo HDBSCAN (5k sample + exemplar assign)",
        s,
        lab,
        f"noise {float((lab < 0).mean()):.1%}",
    )
    sub = 50_000
    hd, s = timed(
        lambda: HDBSCAN(min_cluster_size=1000, min_samples=10, copy=True).fit(x[:sub])
    )
    row(
        "density",
        f"sklearn HDBSCAN ({sub:,} rows only)",
        s,
        hd.labels_,
        f"noise {float((hd.labels_ < 0).mean()):.1%}",
    )

    (gm_seg, _), _ = timed(
        lambda: ours("gmm", CandidateSpec("gmm", k=5), x, 20_000, rng)
    )
    lat = {
        "kmeans": latency(km_seg, x),
        "gmm": latency(gm_seg, x),
        "hdbscan": latency(hd_seg, x),
    }
    for k, v in lat.items():
        print(f"assign_segment {k:<8} {v * 1e6:8.1f} us per customer")
    OUT.mkdir(parents=True, exist_ok=True)
    result = {
        "customers": args.customers,
        "dims": args.dims,
        "rows": rows,
        "assign_segment_us": {k: v * 1e6 for k, v in lat.items()},
    }
    (OUT / "segments_speed.json").write_text(json.dumps(result, indent=2))
    print(pd.DataFrame(rows).to_string(index=False))


if __name__ == "__main__":
    main()
