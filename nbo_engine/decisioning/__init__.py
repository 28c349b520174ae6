"""Decisioning: eligibility, contact policy, assignment, context, bandit choice,
arbitration, messages and the decision log (see ``docs/decisioning.md``).

>>> # decider = Decider.load(engine)
>>> # result = decider.decide("C00000001", "web", 3, now=dt.datetime.now(dt.UTC))
"""

from nbo_engine.decisioning.compiled import CompiledPolicy, make_bandit
from nbo_engine.decisioning.context import ContextSpec
from nbo_engine.decisioning.core import Outcome, decide_core
from nbo_engine.decisioning.decide import (
    Decider,
    DecisionResult,
    OfferChoice,
    load_compiled,
)
from nbo_engine.decisioning.replay import Replay, replay_decision

__all__ = [
    "CompiledPolicy",
    "ContextSpec",
    "Decider",
    "DecisionResult",
    "OfferChoice",
    "Outcome",
    "Replay",
    "decide_core",
    "load_compiled",
    "make_bandit",
    "replay_decision",
]
