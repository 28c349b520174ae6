"""Sentiment of service notes with VADER (Hutto & Gilbert 2014).

VADER is a lexicon-and-rules model that needs no training and no download. Its
compound score lies in [-1, 1]. Identical notes are scored once (agents reuse
phrasing), and the scoring job caches each interaction's score, so a note is
scored once in its life.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import pandas as pd
from numpy.typing import NDArray

__all__ = ["score_notes"]


@lru_cache(maxsize=1)
def _analyzer():  # type: ignore[no-untyped-def]
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    return SentimentIntensityAnalyzer()


def score_notes(notes: NDArray[np.object_] | list[str]) -> NDArray[np.float64]:
    """VADER compound score of each note, shape (n,); empty notes score 0.

    >>> score_notes(["Customer was delighted, excellent service.",
    ...              "Customer was furious and said it was terrible."]).round(2).tolist()
    [0.79, -0.78]
    """
    arr = np.asarray(notes, dtype=object)
    if arr.size == 0:
        return np.zeros(0)
    codes, uniques = pd.factorize(pd.Series(arr).fillna(""))
    analyzer = _analyzer()
    scores = np.array(
        [analyzer.polarity_scores(str(u))["compound"] if u else 0.0 for u in uniques],
        dtype=np.float64,
    )
    return scores[codes]
