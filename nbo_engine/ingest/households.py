"""Relationship mapping: shared addresses and joint accounts form households.

Pure: customers and joint-account pairs in; links and household ids out. A
household is a connected component of links; its id is ``HH-`` followed by the
smallest customer id in it, so ids are stable when nothing changes.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from nbo_engine.ingest.resolve import match_key

__all__ = ["household_links", "households"]


def household_links(customers: pd.DataFrame, joint: pd.DataFrame) -> pd.DataFrame:
    """Undirected links (customer_id < related_customer_id, relation).

    ``customers`` needs ``customer_id, address, postcode``; ``joint`` has
    ``customer_id, joint_customer_id`` for joint accounts.
    """
    key = (
        match_key(customers["address"])
        + "|"
        + customers["postcode"].fillna("").str.replace(" ", "").str.upper()
    )
    frame = pd.DataFrame(
        {"customer_id": customers["customer_id"].to_numpy(), "key": key.to_numpy()}
    )
    frame = frame[frame.duplicated("key", keep=False)]
    pairs = frame.merge(frame, on="key", suffixes=("", "_b"))
    pairs = pairs[pairs["customer_id"] < pairs["customer_id_b"]]
    shared = pd.DataFrame(
        {
            "customer_id": pairs["customer_id"].to_numpy(),
            "related_customer_id": pairs["customer_id_b"].to_numpy(),
            "relation": "shared_address",
        }
    )
    j = joint.dropna()
    j = j[j["customer_id"] != j["joint_customer_id"]]
    a = j["customer_id"].to_numpy(dtype=object)
    b = j["joint_customer_id"].to_numpy(dtype=object)
    first = a < b
    lo = np.where(first, a, b)
    hi = np.where(first, b, a)
    joint_links = pd.DataFrame(
        {"customer_id": lo, "related_customer_id": hi, "relation": "joint_account"}
    )
    links = pd.concat([shared, joint_links], ignore_index=True)
    return (
        links.drop_duplicates()
        .sort_values(["customer_id", "related_customer_id", "relation"])
        .reset_index(drop=True)
    )


def households(customer_ids: pd.Series, links: pd.DataFrame) -> pd.DataFrame:
    """``customer_id, household_id`` for every customer (singles included)."""
    ids = customer_ids.astype(str).to_numpy()
    index = pd.Index(ids)
    n = len(ids)
    a = index.get_indexer(pd.Index(links["customer_id"].astype(str)))
    b = index.get_indexer(pd.Index(links["related_customer_id"].astype(str)))
    ok = (a >= 0) & (b >= 0)
    graph = coo_matrix((np.ones(ok.sum()), (a[ok], b[ok])), shape=(n, n))
    _, label = connected_components(graph, directed=False)
    frame = pd.DataFrame({"customer_id": ids, "label": label})
    first = frame.groupby("label")["customer_id"].transform("min")
    return pd.DataFrame({"customer_id": ids, "household_id": "HH-" + first})
