"""Uplift/CATE models at 100k and 1M rows: fit time, peak memory, Qini, coverage.

Data come from the simulated bank (observable features only, outcomes drawn
from the world's true probabilities, true uplift known):

* ``single``: one offer (``loan_rate_discount``, the one with the widest spread
  of true conversion uplift) randomised 50/50 to 100k training customers and
  scored on 50k other customers; reports each model's Qini as a share of the
  oracle Qini (test rows ranked by their true uplift).
* ``pooled``: 1M rows (customer, offer) over all ten offers, 50/50, the offer a
  feature; test 200k fresh rows.
* ``linear``: 1M rows of 20 Gaussian features with a CATE linear in them, to
  measure pointwise interval coverage where the model is right.

Each (model, data) pair is fitted in a fresh subprocess; peak memory is the
process's peak RSS sampled every 20 ms, also shown net of the RSS before the
fit (data loaded, libraries imported), as a multiple of the input arrays' size.
Peers run with their own defaults except the base learner (LightGBM for
causalml's meta-learners), and only at sizes where they finish in minutes.

Usage::

    python benchmarks/uplift_scale.py              # everything (about 30 min)
    python benchmarks/uplift_scale.py --only single
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "out"
WORK = OUT / "uplift_work"

#: model -> the datasets it runs on (peers only where they finish in minutes)
PLAN: dict[str, tuple[str, ...]] = {
    "nbo_hist_dr": ("single", "pooled", "linear"),
    "causalml_s": ("single", "pooled"),
    "causalml_t": ("single", "pooled"),
    "causalml_x": ("single", "pooled"),
    "causalml_dr": ("single",),
    "causalml_r": ("single",),
    "causalml_uplift_forest": ("single",),
    "econml_linear_dml": ("single", "pooled", "linear"),
    "econml_dr": ("single", "linear"),
    "econml_causal_forest": ("single",),
}
#: these run with the library's own defaults (the peer configuration)
PEER_DEFAULTS = {
    "causalml_r",
    "econml_linear_dml",
    "econml_dr",
    "econml_causal_forest",
}


def build_data(customers: int, seed: int) -> None:
    """Simulate the bank and write the three datasets as .npz files."""
    import pandas as pd

    from nbo_engine.evaluation.encoding import FeatureEncoder
    from nbo_engine.evaluation.simulated import observable_features, randomised_offers
    from nbo_engine.simulate import OFFERS, SimConfig, World, simulate_bank

    bank = WORK / f"bank_{customers}"
    if not (bank / "truth" / "params.json").exists():
        print(f"simulating {customers:,} customers ...", flush=True)
        simulate_bank(
            SimConfig(customers=customers, weeks=52, seed=seed, dirt=0.0), bank
        )
    names = (
        "customers",
        "accounts",
        "transactions",
        "digital_events",
        "interactions",
        "bureau",
    )
    frames = {n: pd.read_csv(bank / f"{n}.csv", engine="pyarrow") for n in names}
    meta = json.loads((bank / "truth" / "params.json").read_text())
    feats = observable_features(
        frames, dt.date.fromisoformat(meta["config"]["end_date"])
    )
    del frames
    world = World.load(bank)
    rng = np.random.default_rng(seed)
    drop = ["treatment", "outcome", "propensity", "true_uplift", "customer_id"]

    ids = rng.permutation(len(feats))
    train_ids, test_ids = ids[:100_000], ids[100_000:150_000]
    tr = randomised_offers(world, feats.iloc[train_ids], ["loan_rate_discount"], rng)
    te = randomised_offers(world, feats.iloc[test_ids], ["loan_rate_discount"], rng)
    enc = FeatureEncoder().fit(tr.drop(columns=drop))
    _save("single", enc, tr, te, drop)

    offers = [o.offer_id for o in OFFERS]
    tr = randomised_offers(world, feats, offers, rng, rows=1_000_000)
    te = randomised_offers(world, feats, offers, rng, rows=200_000)
    enc = FeatureEncoder().fit(tr.drop(columns=drop))
    _save("pooled", enc, tr, te, drop)

    n, p = 1_200_000, 20
    X = rng.normal(size=(n, p))
    t = rng.integers(0, 2, n)
    tau = 0.5 + X[:, 0] - 0.5 * X[:, 1] + 0.25 * X[:, 2]
    y = X[:, :5].sum(axis=1) + np.sin(X[:, 5]) + t * tau + rng.normal(size=n) * 2
    np.savez(
        WORK / "linear.npz",
        X_train=X[:1_000_000],
        t_train=t[:1_000_000],
        y_train=y[:1_000_000],
        X_test=X[1_000_000:],
        t_test=t[1_000_000:],
        y_test=y[1_000_000:],
        tau_test=tau[1_000_000:],
        names=np.array([f"x{i}" for i in range(p)]),
    )


def _save(name: str, enc: Any, tr: Any, te: Any, drop: list[str]) -> None:
    np.savez(
        WORK / f"{name}.npz",
        X_train=enc.transform(tr.drop(columns=drop)),
        t_train=tr["treatment"].to_numpy(),
        y_train=tr["outcome"].to_numpy(),
        X_test=enc.transform(te.drop(columns=drop)),
        t_test=te["treatment"].to_numpy(),
        y_test=te["outcome"].to_numpy(),
        tau_test=te["true_uplift"].to_numpy(),
        names=np.array(enc.names_),
        raw_features=len(enc.columns_),
    )


def _rss() -> int:
    import psutil

    return int(psutil.Process().memory_info().rss)


def child(model: str, data: str) -> None:
    """Fit one model on one dataset and print one JSON line."""
    import warnings

    warnings.simplefilter("ignore")
    from nbo_engine.evaluation.cate import (
        EconmlCausalForest,
        EconmlDRLearner,
        EconmlLinearDML,
    )
    from nbo_engine.evaluation.metrics import qini_coefficient
    from nbo_engine.evaluation.selection import make_model
    from nbo_engine.evaluation.uplift import CausalmlMetaLearner

    d = np.load(WORK / f"{data}.npz")
    X, t, y = d["X_train"], d["t_train"], d["y_train"]
    Xt, tt, yt, tau = d["X_test"], d["t_test"], d["y_test"], d["tau_test"]
    input_bytes = X.nbytes + t.nbytes + y.nbytes
    if model in PEER_DEFAULTS:
        peer = {
            "causalml_r": lambda: CausalmlMetaLearner("r", 0, defaults=True),
            "econml_linear_dml": lambda: EconmlLinearDML(0, defaults=True),
            "econml_dr": lambda: EconmlDRLearner(0, defaults=True),
            "econml_causal_forest": lambda: EconmlCausalForest(0, defaults=True),
        }
        m = peer[model]()
    else:
        m = make_model(model, 0)
    # import the libraries before the baseline so it counts data + code only
    m.fit(X[:2000], t[:2000], y[:2000])
    m = peer[model]() if model in PEER_DEFAULTS else make_model(model, 0)
    base = _rss()
    peak = [base]
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            peak[0] = max(peak[0], _rss())
            time.sleep(0.02)

    th = threading.Thread(target=sample, daemon=True)
    th.start()
    start = time.perf_counter()
    m.fit(X, t, y)
    fit_s = time.perf_counter() - start
    stop.set()
    th.join()
    u = m.predict(Xt)
    res: dict[str, object] = {
        "model": model,
        "data": data,
        "rows": int(X.shape[0]),
        "features": int(X.shape[1]),
        "fit_seconds": round(fit_s, 1),
        "peak_rss_mb": round(peak[0] / 2**20),
        "fit_extra_mb": round((peak[0] - base) / 2**20),
        "input_mb": round(input_bytes / 2**20),
        "extra_over_input": round((peak[0] - base) / input_bytes, 2),
        "qini": round(qini_coefficient(yt, tt, u), 4),
        "oracle_qini": round(qini_coefficient(yt, tt, tau), 4),
        "corr_true": round(float(np.corrcoef(u, tau)[0, 1]), 4),
        "defaults": model in PEER_DEFAULTS,
    }
    res["qini_share_of_oracle"] = round(
        float(res["qini"]) / float(res["oracle_qini"]), 3
    )  # type: ignore[arg-type]
    iv = m.predict_interval(Xt)
    if iv is not None:
        lo, hi = iv
        res["coverage"] = round(float(np.mean((lo <= tau) & (tau <= hi))), 3)
        res["mean_width"] = round(float(np.mean(hi - lo)), 5)
    print("RESULT " + json.dumps(res), flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--customers", type=int, default=150_000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--only", choices=["single", "pooled", "linear"], default=None)
    ap.add_argument("--models", default=None, help="comma-separated subset")
    ap.add_argument(
        "--child", nargs=2, metavar=("MODEL", "DATA"), help=argparse.SUPPRESS
    )
    args = ap.parse_args()
    if args.child:
        child(*args.child)
        return
    WORK.mkdir(parents=True, exist_ok=True)
    if not all((WORK / f"{d}.npz").exists() for d in ("single", "pooled", "linear")):
        build_data(args.customers, args.seed)
    wanted = set(args.models.split(",")) if args.models else set(PLAN)
    results: list[dict[str, object]] = []
    for data in ("single", "pooled", "linear"):
        if args.only and data != args.only:
            continue
        for model, datasets in PLAN.items():
            if data not in datasets or model not in wanted:
                continue
            env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
            proc = subprocess.run(
                [sys.executable, __file__, "--child", model, data],
                capture_output=True,
                text=True,
                env=env,
                check=False,
            )
            line = [x for x in proc.stdout.splitlines() if x.startswith("RESULT ")]
            if not line:
                print(f"{model} on {data} failed:\n{proc.stderr[-2000:]}", flush=True)
                continue
            r = json.loads(line[0][7:])
            results.append(r)
            print(
                f"{data:7s} {model:24s} rows {r['rows']:>9,} fit {r['fit_seconds']:>7.1f}s "
                f"peak {r['peak_rss_mb']:>6} MB (+{r['fit_extra_mb']} MB = "
                f"{r['extra_over_input']}x input {r['input_mb']} MB) qini {r['qini']:.4f} "
                f"share {r['qini_share_of_oracle']:.3f} corr {r['corr_true']:.3f}"
                + (
                    f" cover {r['coverage']:.3f} width {r['mean_width']:.4f}"
                    if "coverage" in r
                    else ""
                ),
                flush=True,
            )
    OUT.mkdir(exist_ok=True)
    (OUT / "uplift_scale.json").write_text(json.dumps(results, indent=2))
    print(f"wrote {OUT / 'uplift_scale.json'}")


if __name__ == "__main__":
    main()
