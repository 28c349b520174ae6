"""Free-text service notes whose wording carries a known sentiment.

A note is an opening that names the reason, a sentence chosen by the
interaction's true sentiment level (-2 very negative .. 2 very positive) and a
neutral closing line. The sentiment sentences use everyday words a lexicon model
such as VADER scores in the intended direction; neutral ones carry no sentiment.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

__all__ = ["write_notes"]

_OPENINGS: tuple[tuple[str, ...], ...] = (
    ("Customer called about a balance query.", "Query about recent account activity."),
    ("Customer called about their card.", "Card payment query at a merchant."),
    (
        "Customer asked about fees charged.",
        "Query about an overdraft fee on statement.",
    ),
    ("Customer enquired about a personal loan.", "Loan enquiry, asked about rates."),
    ("Customer asked about mortgage options.", "Remortgage enquiry from customer."),
    (
        "Customer queried an unrecognised payment.",
        "Customer asked us to check a payment.",
    ),
    ("Customer asked for help logging in to the app.", "App login help requested."),
    ("Customer asked to update their address.", "Change of address requested."),
    ("Customer raised a formal complaint.", "Complaint logged about service."),
)

_SENTIMENT: dict[int, tuple[str, ...]] = {
    -2: (
        "Customer was furious and said the service was terrible and unacceptable.",
        "Very angry, said this is the worst bank and they hate dealing with us.",
        "Customer was outraged and extremely upset, threatened to leave.",
        "Awful experience according to the customer, they were livid and disgusted.",
    ),
    -1: (
        "Customer was disappointed and unhappy with the delay.",
        "Customer sounded frustrated and annoyed about the problem.",
        "Customer was not happy and felt the process was confusing and poor.",
        "Customer complained that it was a bad experience.",
    ),
    0: (
        "Details were checked and the request was recorded.",
        "Agent reviewed the account and noted the request.",
        "Information was provided as requested.",
        "The case was logged for follow up.",
    ),
    1: (
        "Customer was happy with the help given.",
        "Customer said thanks and was pleased with the answer.",
        "Customer was satisfied and glad it was sorted.",
        "Customer appreciated the quick help.",
    ),
    2: (
        "Customer was delighted and said the service was excellent and wonderful.",
        "Very happy customer, said the agent was fantastic and amazing.",
        "Customer loved the support, great experience, thanked us warmly.",
        "Customer was thrilled, said it was the best service they have had.",
    ),
}

_CLOSINGS: tuple[str, ...] = (
    "Reference noted on file.",
    "No further action needed today.",
    "Case closed by agent.",
    "Follow up scheduled.",
    "",
)


def write_notes(
    rng: np.random.Generator, reason: NDArray[np.int8], level: NDArray[np.integer]
) -> list[str]:
    """One note per interaction, shape (n,) in, list of n strings out."""
    n = reason.size
    open_pick = rng.integers(0, 2, n)
    sent_pick = rng.integers(0, 4, n)
    close_pick = rng.integers(0, len(_CLOSINGS), n)
    return [
        " ".join(
            part
            for part in (_OPENINGS[r][o], _SENTIMENT[int(lv)][s], _CLOSINGS[c])
            if part
        )
        for r, o, lv, s, c in zip(
            reason, open_pick, level, sent_pick, close_pick, strict=True
        )
    ]
