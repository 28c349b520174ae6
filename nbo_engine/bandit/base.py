"""What every bandit policy shares: the public API, checks, clock and state.

The public methods (:meth:`BanditPolicy.select`, ``select_batch``,
``probabilities``, ``update``, ``to_bytes``, ``from_bytes``) validate their
inputs once and call a few private hooks that a policy implements (see
``docs/bandits.md``, "How to add a bandit"):

``_distribution(X, eligible, values)``
    the ``(n, n_arms)`` probabilities of choosing each arm, from which
    :func:`~nbo_engine.bandit.distribution.sample_arms` draws;
``_fold(X, arms, rewards, weights)``, ``_decay(factor)``, ``_refresh()``
    add observations to the statistics, discount them (forgetting), recompute
    cached posterior quantities;
``_params()``, ``_array_shapes()``
    constructor keywords and learned arrays, for the bytes format.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar, TypeVar

import numpy as np
from numpy.typing import NDArray

from nbo_engine.bandit.distribution import sample_arm, sample_arms
from nbo_engine.bandit.forgetting import Forgetting
from nbo_engine.bandit.state import decode_state, encode_state, generator_from_state
from nbo_engine.bandit.validation import (
    check_arms,
    check_context,
    check_contexts,
    check_eligible,
    check_positive_int,
    check_rewards,
    check_values,
    check_weights,
)
from nbo_engine.errors import ConfigError, NboError, StateFormatError

__all__ = ["BanditPolicy"]

P = TypeVar("P", bound="BanditPolicy")
RngLike = np.random.Generator | int | None


def _make_rng(rng: object) -> np.random.Generator:
    if isinstance(rng, np.random.Generator):
        return rng
    if rng is None or (isinstance(rng, int | np.integer) and not isinstance(rng, bool)):
        return np.random.default_rng(rng)  # type: ignore[arg-type]
    raise ConfigError(
        f"rng: expected a numpy Generator, an integer seed or None, got {rng!r}"
    )


def _rows(a: NDArray[Any] | None, lo: int, hi: int) -> NDArray[Any] | None:
    if a is None or a.ndim == 1:
        return a
    return a[lo:hi]


class BanditPolicy(ABC):
    """A contextual bandit over ``n_arms`` arms and ``n_features`` features.

    Parameters
    ----------
    n_arms : number of arms (offers), >= 1.
    n_features : length of a context vector, >= 1.
    rng : numpy ``Generator`` or integer seed; the policy's own source of
        randomness (same seed and same calls give the same choices).
    forgetting : optional :class:`Forgetting` (exponential discounting).
    """

    #: Name written into the state bytes; one per concrete class.
    kind: ClassVar[str] = ""
    #: Rewards must lie in this closed range (``None``: any finite number).
    reward_range: ClassVar[tuple[float, float] | None] = None
    #: Rows per block in ``select_batch`` (bounds temporary memory).
    batch_rows: ClassVar[int] = 4096
    _registry: ClassVar[dict[str, type[BanditPolicy]]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.__dict__.get("kind"):
            BanditPolicy._registry[cls.kind] = cls

    def __init__(
        self,
        n_arms: int,
        n_features: int,
        *,
        rng: RngLike = None,
        forgetting: Forgetting | None = None,
    ) -> None:
        self.n_arms = check_positive_int("n_arms", n_arms)
        self.n_features = check_positive_int("n_features", n_features)
        if forgetting is not None and not isinstance(forgetting, Forgetting):
            raise ConfigError(
                "forgetting: expected Forgetting(half_life=..., unit=...) or None, "
                f"got {forgetting!r}"
            )
        self.forgetting = forgetting
        self._rng = _make_rng(rng)
        #: Decisions made by select/select_batch so far.
        self.decisions_ = 0
        #: Value of ``decisions_`` when the evidence was last discounted.
        self.decayed_at_ = 0

    # ------------------------------------------------------------------ hooks
    @abstractmethod
    def _distribution(
        self,
        X: NDArray[np.float64],
        eligible: NDArray[np.bool_] | None,
        values: NDArray[np.float64] | None,
    ) -> NDArray[np.float64]:
        """(n, n_arms) choice probabilities; ``eligible``/``values`` are
        ``None``, (n_arms,) or (n, n_arms)."""

    @abstractmethod
    def _fold(
        self,
        X: NDArray[np.float64],
        arms: NDArray[np.int64],
        rewards: NDArray[np.float64],
        weights: NDArray[np.float64] | None,
    ) -> None:
        """Add observations to the learned statistics."""

    @abstractmethod
    def _decay(self, factor: float) -> None:
        """Multiply the data part of the statistics by ``factor`` in (0, 1)."""

    @abstractmethod
    def _refresh(self) -> None:
        """Recompute cached posterior quantities from the statistics."""

    @abstractmethod
    def _params(self) -> dict[str, Any]:
        """Constructor keyword arguments (JSON-serialisable), for the bytes."""

    @abstractmethod
    def _array_shapes(self) -> dict[str, tuple[int, ...]]:
        """Learned arrays (attribute ``name_``) and their shapes."""

    @abstractmethod
    def predict(self, X: NDArray[np.float64]) -> NDArray[np.float64]:
        """Posterior mean reward of every arm for every row, (n, n_arms)."""

    # ------------------------------------------------------------------ choose
    def select(
        self,
        x: NDArray[np.float64],
        eligible: NDArray[np.bool_] | None = None,
        *,
        values: NDArray[np.float64] | None = None,
    ) -> tuple[int, float]:
        """Choose one arm for context ``x``.

        Parameters
        ----------
        x : (n_features,) finite context.
        eligible : (n_arms,) boolean mask, or ``None`` for every arm. An
            ineligible arm is never chosen; at least one must be eligible.
        values : (n_arms,) business value of a conversion per arm (currency,
            > 0), or ``None`` for 1. The policy maximises value x acceptance.

        Returns
        -------
        arm : index of the chosen arm.
        propensity : probability in (0, 1] with which it was chosen.
        """
        xv = check_context(x, self.n_features)
        el = check_eligible(eligible, 1, self.n_arms, batch=False)
        vals = check_values(values, 1, self.n_arms, batch=False)
        p = self._distribution(xv[None, :], el, vals)[0]
        arm = sample_arm(p, self._rng)
        self.decisions_ += 1
        return arm, float(p[arm])

    def select_batch(
        self,
        X: NDArray[np.float64],
        eligible: NDArray[np.bool_] | None = None,
        *,
        values: NDArray[np.float64] | None = None,
    ) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
        """Choose one arm per row of ``X`` (vectorised; blocks of rows).

        Parameters
        ----------
        X : (n, n_features) finite contexts.
        eligible : (n_arms,) mask shared by all rows, (n, n_arms) per row, or
            ``None``.
        values : (n_arms,) or (n, n_arms) value per conversion (> 0), or ``None``.

        Returns
        -------
        arms : (n,) int64 chosen arms.
        propensities : (n,) float64 in (0, 1], probability of each choice.
        """
        Xv, el, vals = self._check_batch(X, eligible, values)
        n = Xv.shape[0]
        arms = np.empty(n, dtype=np.int64)
        props = np.empty(n, dtype=np.float64)
        for lo in range(0, n, self.batch_rows):
            hi = min(n, lo + self.batch_rows)
            P = self._distribution(Xv[lo:hi], _rows(el, lo, hi), _rows(vals, lo, hi))
            a = sample_arms(P, self._rng)
            arms[lo:hi] = a
            props[lo:hi] = P[np.arange(hi - lo), a]
        self.decisions_ += n
        return arms, props

    def probabilities(
        self,
        X: NDArray[np.float64],
        eligible: NDArray[np.bool_] | None = None,
        *,
        values: NDArray[np.float64] | None = None,
    ) -> NDArray[np.float64]:
        """The distribution ``select_batch`` draws from, shape (n, n_arms).

        Rows sum to 1; ineligible arms get 0. For Thompson sampling this uses
        the policy's generator (Monte Carlo draws) and is the exact choice
        distribution given those draws. It does not count as a decision.
        Use it as ``target_probs`` in off-policy evaluation.
        """
        Xv, el, vals = self._check_batch(X, eligible, values)
        n = Xv.shape[0]
        out = np.empty((n, self.n_arms))
        for lo in range(0, n, self.batch_rows):
            hi = min(n, lo + self.batch_rows)
            out[lo:hi] = self._distribution(
                Xv[lo:hi], _rows(el, lo, hi), _rows(vals, lo, hi)
            )
        return out

    def _check_batch(
        self, X: object, eligible: object, values: object
    ) -> tuple[
        NDArray[np.float64], NDArray[np.bool_] | None, NDArray[np.float64] | None
    ]:
        Xv = check_contexts(X, self.n_features)
        n = Xv.shape[0]
        el = check_eligible(eligible, n, self.n_arms, batch=True)
        vals = check_values(values, n, self.n_arms, batch=True)
        return Xv, el, vals

    # ------------------------------------------------------------------ learn
    def update(
        self,
        X: NDArray[np.float64],
        arms: NDArray[np.int64],
        rewards: NDArray[np.float64],
        *,
        weights: NDArray[np.float64] | None = None,
    ) -> None:
        """Fold in rewards that have arrived, in any batch, in any order.

        Parameters
        ----------
        X : (n, n_features) the contexts the arms were chosen for.
        arms : (n,) integer arms that were played.
        rewards : (n,) observed rewards (e.g. converted 0/1).
        weights : (n,) non-negative observation weights (e.g. importance
            weights in a warm start), or ``None`` for 1.
        """
        Xv = check_contexts(X, self.n_features)
        n = Xv.shape[0]
        a = check_arms(arms, n, self.n_arms)
        lo_hi = self.reward_range
        r = check_rewards(
            rewards,
            n,
            low=None if lo_hi is None else lo_hi[0],
            high=None if lo_hi is None else lo_hi[1],
        )
        w = check_weights(weights, n)
        if self.forgetting is not None:
            if self.forgetting.unit == "decisions":
                steps = float(self.decisions_ - self.decayed_at_)
            else:
                steps = float(n)
            self.decayed_at_ = self.decisions_
            f = self.forgetting.factor(steps)
            if f < 1.0:
                self._decay(f)
        if n:
            self._fold(Xv, a, r, w)
        self._refresh()

    # ------------------------------------------------------------------ state
    def _all_params(self) -> dict[str, Any]:
        fg = self.forgetting
        return {
            "n_arms": self.n_arms,
            "n_features": self.n_features,
            "forgetting": None
            if fg is None
            else {"half_life": fg.half_life, "unit": fg.unit},
            **self._params(),
        }

    def to_bytes(self) -> bytes:
        """The whole state (parameters, statistics, clock, generator) as bytes.

        The format is described in :mod:`nbo_engine.bandit.state`; no pickle.
        """
        arrays = {name: getattr(self, f"{name}_") for name in self._array_shapes()}
        clock = {"decisions": self.decisions_, "decayed_at": self.decayed_at_}
        return encode_state(self.kind, self._all_params(), clock, self._rng, arrays)

    @classmethod
    def from_bytes(cls: type[P], data: bytes) -> P:
        """Rebuild a policy from :meth:`to_bytes`; later choices are identical.

        Called on a concrete class, the bytes must hold that class's state;
        called on :class:`BanditPolicy`, any registered policy is returned.

        Raises
        ------
        StateFormatError
            The bytes are not a state, of another class, or of another version.
        """
        st = decode_state(data)
        target = BanditPolicy._registry.get(st.policy)
        if target is None:
            raise StateFormatError(
                f"bandit state: unknown policy {st.policy!r}; known: "
                f"{', '.join(sorted(BanditPolicy._registry))}"
            )
        if cls is not BanditPolicy and target is not cls:
            raise StateFormatError(
                f"bandit state: the bytes hold a {st.policy} state, but "
                f"{cls.__name__}.from_bytes expects a {cls.kind} state"
            )
        params = dict(st.params)
        try:
            fg = params.pop("forgetting", None)
            obj = target(
                params.pop("n_arms"),
                params.pop("n_features"),
                rng=generator_from_state(st.rng),
                forgetting=None if fg is None else Forgetting(**fg),
                **params,
            )
        except (KeyError, TypeError, NboError) as exc:
            raise StateFormatError(
                f"bandit state: the {st.policy} parameters {st.params} are not "
                f"valid: {exc}"
            ) from None
        shapes = obj._array_shapes()
        if set(st.arrays) != set(shapes):
            raise StateFormatError(
                f"bandit state: {st.policy} expects arrays {sorted(shapes)}, got "
                f"{sorted(st.arrays)}"
            )
        for name, shape in shapes.items():
            a = st.arrays[name]
            if a.shape != shape or not np.isfinite(a).all():
                raise StateFormatError(
                    f"bandit state: array {name!r} has shape {a.shape}, expected "
                    f"finite values of shape {shape}"
                )
            setattr(obj, f"{name}_", a.copy())
        obj.decisions_ = int(st.clock["decisions"])
        obj.decayed_at_ = int(st.clock["decayed_at"])
        obj._refresh()
        return obj  # type: ignore[return-value]

    def copy(self: P) -> P:
        """An independent copy (through the bytes format)."""
        return type(self).from_bytes(self.to_bytes())

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self._all_params().items())
        return f"{type(self).__name__}({args})"
