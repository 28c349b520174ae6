"""Exponential forgetting of a policy's evidence, for response that drifts.

Before a batch of rewards is folded in, the evidence already held (the data
part of the sufficient statistics: Gram matrix, reward sums, counts; for the
logistic policy the data part of the posterior precision) is multiplied by

    gamma = 0.5 ** (steps / half_life)

so an observation's weight halves every ``half_life`` steps. The prior is never
discounted, so the posterior widens back towards it and exploration resumes.

``unit`` says what a step is:

``"decisions"`` (default)
    one decision made by ``select``/``select_batch`` since the previous update.
    Time passes with traffic, not with the arrival of rewards, so delayed
    rewards are discounted by how much has been decided since, and folding a
    batch in at once equals folding it in one row at a time.
``"observations"``
    one observation folded in: an update with ``n`` rows discounts what was
    held by ``gamma ** n``; the rows of one batch get equal weight (the result
    does not depend on their order, but splitting a batch in two weights the
    first half by ``0.5 ** (n2 / half_life)``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from nbo_engine.bandit.validation import check_real
from nbo_engine.errors import ConfigError

__all__ = ["Forgetting"]

Unit = Literal["decisions", "observations"]


@dataclass(frozen=True)
class Forgetting:
    """Half-life of the evidence, in decisions or in observations.

    Examples
    --------
    >>> Forgetting(half_life=1000).factor(2000)
    0.25
    """

    half_life: float
    unit: Unit = "decisions"

    def __post_init__(self) -> None:
        check_real("forgetting.half_life", self.half_life, low=0.0, low_open=True)
        if self.unit not in ("decisions", "observations"):
            raise ConfigError(
                f"forgetting.unit: expected 'decisions' or 'observations', got "
                f"{self.unit!r}"
            )

    def factor(self, steps: float) -> float:
        """Weight left on evidence that is ``steps`` steps old, in (0, 1]."""
        return float(0.5 ** (max(float(steps), 0.0) / float(self.half_life)))
