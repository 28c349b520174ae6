"""Cluster quality against the simulator's latent segments.

Usage::

    python benchmarks/segments_quality.py --customers 20000 [--seed 1]
    python benchmarks/segments_quality.py --bank DIR   # reuse DIR/profile.parquet

Simulates a bank, loads it into a throwaway SQLite store, builds the profile,
runs the full segmentation (default candidate grid) and reports, for every
candidate, the validation metrics and the adjusted Rand index with the truth
``segment``; for reference, peers on the same features: scikit-learn KMeans
and GaussianMixture fitted on all customers at the true k=5, and supervised
ceilings (QDA on the same features, LightGBM on every profile feature, both
3-fold cross-validated). Writes ``benchmarks/out/segments_quality.json``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.cluster import KMeans
from sklearn.discriminant_analysis import QuadraticDiscriminantAnalysis
from sklearn.metrics import accuracy_score, adjusted_rand_score
from sklearn.mixture import GaussianMixture
from sklearn.model_selection import cross_val_predict

from nbo_engine.features import CATEGORICAL, build_features
from nbo_engine.ingest import ingest_dir
from nbo_engine.scoring.segmentation import segment_customers
from nbo_engine.simulate import SimConfig, simulate_bank
from nbo_engine.store import make_engine, migrate, queries

OUT = Path(__file__).resolve().parents[1] / "benchmarks" / "out"


def load(args: argparse.Namespace) -> tuple[pd.DataFrame, pd.DataFrame]:
    bank = Path(args.bank) if args.bank else OUT / f"segments_bank_{args.customers}"
    cached = bank / "profile.parquet"
    if not cached.exists():
        config = SimConfig(
            customers=args.customers, weeks=104, seed=args.seed, dirt=0.0
        )
        simulate_bank(config, bank)
        engine = make_engine(f"sqlite:///{bank / 'nbo.db'}")
        migrate.upgrade(engine)
        ingest_dir(bank, engine=engine)
        build_features(
            queries.read_tables(engine), as_of=pd.Timestamp(config.end_date)
        ).to_parquet(cached)
    profile = pd.read_parquet(cached)
    truth = (
        pd.read_parquet(bank / "truth" / "customers.parquet")
        .set_index("customer_id")
        .reindex(profile.index)
    )
    return profile, truth


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--customers", type=int, default=20_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--bank", default="")
    ap.add_argument("--no-lgbm", action="store_true")
    args = ap.parse_args()
    profile, truth = load(args)
    y = truth["segment"].to_numpy()
    profile = profile.copy()
    profile["value_12m"] = truth["expected_spend_52w"].to_numpy()
    t0 = time.perf_counter()
    seg = segment_customers(profile, "value_12m", np.random.default_rng(args.seed))
    seconds = time.perf_counter() - t0
    frame = seg.fit.candidates
    # Each candidate's ARI with the truth when it assigns every customer is not
    # kept by the pipeline; the chosen one's is.
    chosen_ari = float(adjusted_rand_score(y, seg.assignments["cluster"]))
    z = seg.segmenter.scaled(profile)
    peers = {}
    for name, model in (
        ("sklearn KMeans k=5 (all rows)", KMeans(5, n_init=4, random_state=0)),
        (
            "sklearn GaussianMixture k=5 (all rows)",
            GaussianMixture(5, covariance_type="full", reg_covar=1e-2, random_state=0),
        ),
    ):
        labels = model.fit(z).predict(z)
        peers[name] = float(adjusted_rand_score(y, labels))
    qda = cross_val_predict(QuadraticDiscriminantAnalysis(reg_param=0.01), z, y, cv=3)
    peers["supervised QDA, same features (ceiling)"] = float(
        adjusted_rand_score(y, qda)
    )
    accuracy = {"qda": float(accuracy_score(y, qda))}
    if not args.no_lgbm:
        import lightgbm as lgb

        x_all = profile.drop(columns=[*CATEGORICAL, "value_12m"])
        pred = cross_val_predict(
            lgb.LGBMClassifier(n_estimators=200, learning_rate=0.05, verbose=-1),
            x_all,
            y,
            cv=3,
        )
        peers["supervised LightGBM, all features (ceiling)"] = float(
            adjusted_rand_score(y, pred)
        )
        accuracy["lgbm"] = float(accuracy_score(y, pred))
    lapsed = profile["rfm_count_365"].to_numpy() == 0
    active_ari = float(
        adjusted_rand_score(y[~lapsed], seg.assignments["cluster"].to_numpy()[~lapsed])
    )
    pd.set_option("display.width", 220)
    print(
        frame[
            [
                "label",
                "n_clusters",
                "silhouette",
                "davies_bouldin",
                "calinski_harabasz",
                "bic",
                "stability",
                "accepted",
                "score",
                "chosen",
            ]
        ]
        .round(3)
        .to_string(index=False)
    )
    chosen = frame[frame["chosen"]].iloc[0]["label"]
    print(
        f"\nchosen {chosen}: ARI with truth {chosen_ari:.3f} "
        f"({active_ari:.3f} among customers who purchased in the last year); "
        f"segmentation took {seconds:.1f} s for {len(profile):,} customers"
    )
    for name, v in peers.items():
        print(f"  {name:<48} ARI {v:.3f}")
    print(f"  supervised accuracy: {accuracy}")
    print(pd.crosstab(truth["segment"], seg.assignments["cluster_name"]))
    for p in seg.clusters.profiles:
        print(f"- {p.name}: {p.summary}")
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "segments_quality.json").write_text(
        json.dumps(
            {
                "customers": len(profile),
                "seconds": seconds,
                "chosen": chosen,
                "ari_chosen": chosen_ari,
                "ari_active": active_ari,
                "peers": peers,
                "accuracy": accuracy,
                "candidates": json.loads(frame.to_json(orient="records")),
                "profiles": [
                    {"name": p.name, "summary": p.summary}
                    for p in seg.clusters.profiles
                ],
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
