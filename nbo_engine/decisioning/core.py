"""One decision, pure: profile and history in, eligible set and ranked offers out.

No database, clock or global random state: the caller reads the profile and
the contact history, passes ``now`` and the decision's own generator, and logs
the :class:`Outcome`. The same function replays a logged decision. The
profile gets its real-time fields from the history's offer events first
(:mod:`nbo_engine.decisioning.realtime`).

Order of the filters (each vectorised over offers):

1. request blocked: global holdout / no-contact variant, do-not-contact,
   missing consent on a channel that needs it, quiet hours, or a channel /
   all-channel contact cap reached -> no offer (the context is still logged);
2. offer runs today and on this channel;
3. per-offer caps, cool-down after a decline, suppression after ignored
   impressions;
4. the offer's eligibility rule (only for offers still in);
5. value (margin x levers) > 0 and priority >= ``min_priority``;
6. the bandit ranks up to ``n`` of the rest (value-aware).

A ``treatment`` (the variant of an offer or message experiment) replaces
steps 5-6: the treatment's offer is served alone, with propensity 1 (the
variant, not the bandit, chose it), and with the treatment's message if it
names one, when it passes filters 1-4 and its value is > 0 (a lever of 0,
such as a retune's suppression, still holds; ``min_priority`` does not, as
the campaign manager chose the offer); otherwise nothing is served
(``blocked="treatment_ineligible"``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from nbo_engine.decisioning.arbitration import (
    accept_probability,
    choose_ranked,
    priority,
)
from nbo_engine.decisioning.compiled import CompiledPolicy
from nbo_engine.decisioning.contact import blocked_reason, offer_contact_mask
from nbo_engine.decisioning.context import rule_profile
from nbo_engine.decisioning.realtime import realtime_fields
from nbo_engine.decisioning.render import message_fields, render
from nbo_engine.store.decisions import ContactHistory

__all__ = ["Outcome", "decide_core"]


@dataclass(frozen=True)
class Outcome:
    """What a policy decided for one request.

    ``eligible`` are the offers the bandit could choose from (after every
    filter); ``arms``/``propensities`` the chosen offers by rank (indices into
    the policy's offers); ``p_accept``, ``values`` (margin x levers, currency)
    and ``priorities`` are over all offers, shape (K,).
    """

    eligible: tuple[str, ...]
    x: NDArray[np.float64]
    arms: tuple[int, ...]
    propensities: tuple[float, ...]
    p_accept: NDArray[np.float64]
    values: NDArray[np.float64]
    priorities: NDArray[np.float64]
    messages: tuple[str, ...]
    blocked: str | None


def decide_core(
    policy: CompiledPolicy,
    row: Mapping[str, Any],
    history: ContactHistory,
    *,
    channel: str,
    n: int,
    now: dt.datetime,
    rng: np.random.Generator,
    request: Mapping[str, Any] | None = None,
    no_contact: str | None = None,
    treatment: tuple[int, str | None] | None = None,
) -> Outcome:
    """Decide for one customer with one policy (see the module doc).

    Parameters
    ----------
    policy : the compiled policy version and its bandit. For Thompson-sampling
        bandits the bandit's generator is set to ``rng`` (the caller holds a
        lock when the bandit is shared between threads).
    row : the customer's stored profile (``read_profile``).
    history : their recent contact history.
    channel, n : the request; ``n`` offers at most.
    now : decision time (aware, or naive UTC).
    rng : the decision's own generator (seeded from the decision id).
    request : checked request context fields (override the profile).
    no_contact : a reason to offer nothing (e.g. ``"global_holdout"``).
    treatment : ``(arm, template)`` an experiment variant serves
        (:attr:`CompiledPolicy.treatments`; template ``None``: the offer's
        own message).
    """
    spec = policy.spec
    prof = rule_profile(
        row,
        spec,
        policy.rule_columns,
        request,
        realtime=realtime_fields(history, policy.products),
    )
    x = policy.context.vector(prof, channel)
    blocked = no_contact or blocked_reason(spec, prof, channel, now)
    today = (now.astimezone(dt.UTC) if now.tzinfo else now).date().toordinal()
    mask = policy.channel_ok[channel] & (policy.start <= today) & (today <= policy.end)
    if blocked is None:
        is_open, allowed = offer_contact_mask(policy.contact, history, channel)
        if not is_open:
            blocked = "contact_cap"
        mask &= allowed
    if blocked is not None:
        mask[:] = False
    for k in np.flatnonzero(mask):  # only offers still in: rules are the costly part
        mask[k] = policy.rules[k].holds(prof)
    levers = policy.levers(prof.get("segment"))
    values = policy.margin * levers
    bandit = policy.bandit
    if spec.bandit.reward == "conversion":
        mean = bandit.predict(x[None, :])[0]
        counts = getattr(bandit, "count_", None)
        p_accept = accept_probability(policy.prior(prof), mean, counts)
    else:
        p_accept = accept_probability(policy.prior(prof), None, None)
    prio = priority(p_accept, policy.margin, levers)
    arms: list[int] = []
    props: list[float] = []
    templates = policy.messages
    if treatment is None:
        mask &= (values > 0) & (prio >= spec.arbitration.min_priority)
        if mask.any():
            if hasattr(bandit, "n_draws"):
                # Thompson draws come from the bandit's generator: make them
                # the decision's, so the decision replays exactly.
                bandit._rng = rng
            # With value rewards the bandit already learns value: levers only.
            weights = values if spec.bandit.reward == "conversion" else levers
            arms, props = choose_ranked(bandit, x, mask, weights, n, rng)
    else:
        arm, template = treatment
        served = bool(mask[arm] and values[arm] > 0)
        mask = np.zeros_like(mask)
        mask[arm] = served
        if served:
            arms, props = [arm], [1.0]
            if template is not None:
                templates = (*templates[:arm], template, *templates[arm + 1 :])
        elif blocked is None:
            blocked = "treatment_ineligible"
    messages: tuple[str, ...] = ()
    if arms:
        fields = message_fields(prof, spec.template_fields)
        messages = tuple(render(templates[a], fields) for a in arms)
    ids = policy.offer_ids
    return Outcome(
        eligible=tuple(ids[k] for k in np.flatnonzero(mask)),
        x=x,
        arms=tuple(arms),
        propensities=tuple(props),
        p_accept=p_accept,
        values=values,
        priorities=prio,
        messages=messages,
        blocked=blocked,
    )
