"""One retune: propose from the evidence, check the guardrails, decide rollback.

:func:`retune` is the pure core the weekly job calls: the policy serving now
and the week's :class:`~nbo_engine.retune.evidence.Evidence` in, a
:class:`RetuneResult` out. It never touches a store: the job publishes,
activates or rolls back according to the result.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from nbo_engine.policy import PolicySpec
from nbo_engine.retune.checks import GuardrailCheck, check_proposal
from nbo_engine.retune.evidence import Evidence
from nbo_engine.retune.guardrails import Guardrails
from nbo_engine.retune.propose import Proposal, propose
from nbo_engine.retune.rollback import RollbackDecision, rollback_decision

__all__ = ["RetuneResult", "retune"]


@dataclass(frozen=True)
class RetuneResult:
    """The proposal, its guardrail checks and the rollback decision.

    ``accepted``: the proposal has changes and passed every check, so it may
    serve (after approval in ``propose`` mode). ``refused``: it has changes
    and failed a check; ``refusals`` says why.
    """

    proposal: Proposal
    checks: tuple[GuardrailCheck, ...]
    rollback: RollbackDecision

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.checks)

    @property
    def accepted(self) -> bool:
        return bool(self.proposal.changes) and self.passed

    @property
    def refused(self) -> bool:
        return bool(self.proposal.changes) and not self.passed

    @property
    def refusals(self) -> tuple[str, ...]:
        return tuple(f"{c.name}: {c.reason}" for c in self.checks if not c.passed)


def retune(
    spec: PolicySpec,
    evidence: Evidence,
    guardrails: Guardrails = Guardrails(),
    *,
    today: dt.date,
) -> RetuneResult:
    """Propose changes from ``evidence``, check them, and test for rollback.

    Parameters
    ----------
    spec : the policy serving now.
    evidence : the week's evidence; ``guardrail_series`` compares the weeks
        around the last applied change.
    guardrails : limits and evidence rules (documented defaults).
    today : the retune day.

    Returns
    -------
    RetuneResult

    Examples
    --------
    >>> import datetime as dt
    >>> from pathlib import Path
    >>> from nbo_engine.policy import load_policy
    >>> from nbo_engine.retune.evidence import CellEffect, Evidence
    >>> spec = load_policy(Path("policies/catalog.yaml"))
    >>> cells = (CellEffect("cc_cashback", "stretched_borrowers", -9.0, 1.5, 900, 800),
    ...          CellEffect("savings_boost", "affluent_savers", 0.4, 1.0, 900, 800))
    >>> ev = Evidence(dt.date(2026, 4, 6), dt.date(2026, 4, 13), cells=cells)
    >>> result = retune(spec, ev, today=dt.date(2026, 4, 13))
    >>> [(c.kind, c.offer, c.segment, c.after) for c in result.proposal.changes]
    [('suppress', 'cc_cashback', 'stretched_borrowers', 0.0)]
    >>> result.accepted, result.refusals[0][:40]
    (False, 'ope: refused: no logged decisions of the')
    """
    proposal = propose(spec, evidence, guardrails, today=today)
    checks = check_proposal(proposal, evidence, guardrails)
    return RetuneResult(
        proposal=proposal,
        checks=checks,
        rollback=rollback_decision(evidence.guardrail_series, guardrails),
    )
