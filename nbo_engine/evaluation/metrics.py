"""Qini and uplift curves, the Qini coefficient, AUUC and uplift at k.

One home for every uplift ranking metric in the engine. The definitions (see
``docs/uplift.md``) follow scikit-uplift's, so that
``qini_coefficient(y, t, u) == sklift.metrics.qini_auc_score(y, u, t)`` and
``auuc(y, t, u) == sklift.metrics.uplift_auc_score(y, u, t)`` for binary
outcomes; ``normalize="causalml"`` returns ``causalml.metrics.qini_score`` and
``auuc_score`` instead.

Rows are sorted by predicted uplift, highest first. Curve points are taken at
each distinct score (tied rows enter together, so ties never depend on row
order). With ``N(k)`` rows targeted, of which ``N_T``/``N_C`` treated/control,
and ``Y_T``/``Y_C`` their summed outcomes:

* Qini curve ``Q(k) = Y_T - Y_C * N_T / N_C`` (incremental outcomes among the
  targeted treated rows, in outcome units);
* uplift curve ``U(k) = (Y_T / N_T - Y_C / N_C) * N`` (incremental outcomes had
  all ``N`` targeted rows been treated).

A term whose denominator is zero counts as 0. Areas are trapezoids over ``N``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from nbo_engine.errors import DataValidationError

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = [
    "Curve",
    "UpliftScores",
    "auuc",
    "evaluate_uplift",
    "perfect_qini_curve",
    "perfect_uplift_curve",
    "plot_curves",
    "qini_coefficient",
    "qini_curve",
    "uplift_at_k",
    "uplift_curve",
]

Normalize = Literal["perfect", "causalml", "none"]
_NORMALIZE = ("perfect", "causalml", "none")


@dataclass(frozen=True)
class Curve:
    """Points of a Qini or uplift curve, each shape (m + 1,), starting at (0, 0).

    ``x`` is the number of rows targeted (0 .. n), ``y`` the incremental outcome
    (outcome units, e.g. conversions or currency).
    """

    x: NDArray[np.float64]
    y: NDArray[np.float64]

    def area(self) -> float:
        """Trapezoid area under the curve (outcome units x rows)."""
        return float(
            np.sum((self.x[1:] - self.x[:-1]) * (self.y[1:] + self.y[:-1])) / 2
        )

    def random_area(self) -> float:
        """Area under the straight line from (0, 0) to the curve's end point."""
        return float(self.x[-1] * self.y[-1] / 2)


@dataclass(frozen=True)
class UpliftScores:
    """The ranking metrics of one model on one labelled sample."""

    qini: float
    auuc: float
    uplift_at_10: float
    uplift_at_20: float
    uplift_at_30: float


def _validate(
    y: ArrayLike, t: ArrayLike, u: ArrayLike | None = None
) -> tuple[NDArray[np.float64], NDArray[np.int64], NDArray[np.float64]]:
    ya = np.asarray(y, dtype=np.float64)
    ta_raw = np.asarray(t)
    ua = np.zeros_like(ya) if u is None else np.asarray(u, dtype=np.float64)
    for name, a in (("outcome", ya), ("treatment", ta_raw), ("uplift", ua)):
        if a.ndim != 1:
            raise DataValidationError(
                f"{name}: expected a 1-D array, got shape {a.shape}"
            )
    if not ya.shape == ta_raw.shape == ua.shape:
        raise DataValidationError(
            f"outcome, treatment and uplift must have the same length, got "
            f"{ya.shape[0]}, {ta_raw.shape[0]} and {ua.shape[0]}"
        )
    if ya.size < 2:
        raise DataValidationError(f"expected at least 2 rows, got {ya.size}")
    for name, a in (("outcome", ya), ("uplift", ua)):
        bad = ~np.isfinite(a)
        if bad.any():
            i = int(np.argmax(bad))
            raise DataValidationError(
                f"{name}: row {i} is {a[i].item()!r}, expected a finite number"
            )
    ta = ta_raw.astype(np.float64)
    not01 = (ta != 0) & (ta != 1)
    if not01.any():
        i = int(np.argmax(not01))
        raise DataValidationError(
            f"treatment: row {i} is {ta_raw[i].item()!r}, expected 0 (control) or 1 (treated)"
        )
    ti = ta.astype(np.int64)
    n_t = int(ti.sum())
    if n_t == 0 or n_t == ti.size:
        raise DataValidationError(
            f"treatment: all {ti.size} rows are in one arm ({n_t} treated), "
            "expected both treated and control rows"
        )
    return ya, ti, ua


def _order(u: NDArray[np.float64]) -> NDArray[np.int64]:
    # Highest score first; the same order as scikit-uplift (reversed mergesort),
    # so that uplift_at_k agrees with it even when scores tie at the cut.
    return np.argsort(u, kind="mergesort")[::-1]


def _cumulative(
    y: NDArray[np.float64], t: NDArray[np.int64], u: NDArray[np.float64]
) -> tuple[NDArray[np.float64], ...]:
    order = _order(u)
    ys, ts, us = y[order], t[order], u[order]
    cut = np.r_[np.flatnonzero(np.diff(us)), us.size - 1]
    n_all = (cut + 1).astype(np.float64)
    n_t = np.cumsum(ts, dtype=np.float64)[cut]
    y_t = np.cumsum(ys * ts)[cut]
    y_c = np.cumsum(ys * (1 - ts))[cut]
    return n_all, n_t, n_all - n_t, y_t, y_c


def _div(a: NDArray[np.float64], b: NDArray[np.float64]) -> NDArray[np.float64]:
    return np.divide(a, b, out=np.zeros_like(a), where=b != 0)


def _start_at_origin(x: NDArray[np.float64], y: NDArray[np.float64]) -> Curve:
    return Curve(np.r_[0.0, x], np.r_[0.0, y])


def qini_curve(y: ArrayLike, t: ArrayLike, uplift: ArrayLike) -> Curve:
    """Qini curve of a ranking: ``Q(k) = Y_T - Y_C * N_T / N_C``.

    Parameters
    ----------
    y : array_like, shape (n,)
        Observed outcome (binary or continuous, outcome units).
    t : array_like, shape (n,)
        Treatment indicator, 1 treated, 0 control.
    uplift : array_like, shape (n,)
        Predicted uplift; rows are targeted highest first.

    Returns
    -------
    Curve
        Points at each distinct score, from (0, 0) to (n, Q(n)).

    Examples
    --------
    >>> c = qini_curve([1, 0, 0, 1], [1, 0, 1, 0], [0.9, 0.5, 0.4, 0.1])
    >>> c.x.tolist(), c.y.tolist()
    ([0.0, 1.0, 2.0, 3.0, 4.0], [0.0, 1.0, 1.0, 1.0, 0.0])
    """
    ya, ta, ua = _validate(y, t, uplift)
    n_all, n_t, n_c, y_t, y_c = _cumulative(ya, ta, ua)
    return _start_at_origin(n_all, y_t - y_c * _div(n_t, n_c))


def uplift_curve(y: ArrayLike, t: ArrayLike, uplift: ArrayLike) -> Curve:
    """Uplift (cumulative gain) curve: ``U(k) = (Y_T/N_T - Y_C/N_C) * N``.

    Parameters and result as :func:`qini_curve`.
    """
    ya, ta, ua = _validate(y, t, uplift)
    n_all, n_t, n_c, y_t, y_c = _cumulative(ya, ta, ua)
    return _start_at_origin(n_all, (_div(y_t, n_t) - _div(y_c, n_c)) * n_all)


def _is_binary(y: NDArray[np.float64]) -> bool:
    return bool(np.all((y == 0) | (y == 1)))


def perfect_qini_curve(y: ArrayLike, t: ArrayLike) -> Curve:
    """The best Qini curve the observed outcomes allow.

    Rows ranked by ``(2t - 1) * y``: treated rows with high outcomes first and
    control rows with high outcomes last (scikit-uplift's
    ``perfect_qini_curve(negative_effect=True)``; it extends to continuous ``y``).
    """
    ya, ta, _ = _validate(y, t)
    return qini_curve(ya, ta, (2 * ta - 1) * ya)


def perfect_uplift_curve(y: ArrayLike, t: ArrayLike) -> Curve:
    """The best uplift curve the observed outcomes allow.

    For binary ``y`` scikit-uplift's ranking: treated responders, control
    non-responders, then control responders and treated non-responders in the
    order that keeps the curve highest. For continuous ``y`` rows are ranked by
    ``(2t - 1) * y`` as in :func:`perfect_qini_curve`.
    """
    ya, ta, _ = _validate(y, t)
    if _is_binary(ya):
        control_responders = np.sum((ya == 1) & (ta == 0))
        treated_non_responders = np.sum((ya == 0) & (ta == 1))
        summand = ya if control_responders > treated_non_responders else ta
        score = 2.0 * (ya == ta) + summand
    else:
        score = (2 * ta - 1) * ya
    return uplift_curve(ya, ta, score)


def _causalml_mean(curve: Curve, n: int) -> float:
    # causalml evaluates the curve at every k = 0..n and divides it by |end|.
    every = np.interp(np.arange(n + 1, dtype=np.float64), curve.x, curve.y)
    end = abs(float(curve.y[-1]))
    if end == 0.0:
        return float("nan")
    return float(every.mean() / end)


def _normalised(curve: Curve, perfect: Curve, normalize: Normalize) -> float:
    gain = curve.area() - curve.random_area()
    if normalize == "none":
        return gain / float(curve.x[-1])
    best = perfect.area() - perfect.random_area()
    return gain / best if best != 0 else float("nan")


def _check_normalize(normalize: str) -> None:
    if normalize not in _NORMALIZE:
        raise DataValidationError(
            f"normalize: got {normalize!r}, expected one of {', '.join(_NORMALIZE)}"
        )


def qini_coefficient(
    y: ArrayLike, t: ArrayLike, uplift: ArrayLike, normalize: Normalize = "perfect"
) -> float:
    """Qini coefficient: area between the Qini curve and the random line.

    Parameters
    ----------
    y, t, uplift : array_like, shape (n,)
        Outcome, treatment (0/1) and predicted uplift, as in :func:`qini_curve`.
    normalize : {"perfect", "causalml", "none"}
        ``"perfect"`` (default) divides by the same area of the perfect Qini
        curve: 0 is a random ranking, 1 the best ranking the outcomes allow;
        equal to ``sklift.metrics.qini_auc_score``. ``"causalml"`` is
        ``causalml.metrics.qini_score``: the mean over k = 0..n of
        ``Q(k) / |Q(n)|`` minus that of the random line (``sign(Q(n)) / 2``).
        ``"none"`` is the area between the curve and the random line divided
        by n (outcome units).

    Returns
    -------
    float
        NaN when the perfect curve has no area (no outcome variation).

    Examples
    --------
    >>> y, t = [1, 0, 1, 0, 0, 1], [1, 1, 0, 0, 1, 0]
    >>> round(qini_coefficient(y, t, [6, 5, 4, 3, 2, 1]), 4)
    0.4615
    >>> round(qini_coefficient(y, t, [6, 1, 2, 5, 4, 3]), 4)
    0.7949
    """
    _check_normalize(normalize)
    ya, ta, ua = _validate(y, t, uplift)
    curve = qini_curve(ya, ta, ua)
    if normalize == "causalml":
        return _causalml_mean(curve, ya.size) - float(np.sign(curve.y[-1])) / 2
    perfect = curve if normalize == "none" else perfect_qini_curve(ya, ta)
    return _normalised(curve, perfect, normalize)


def auuc(
    y: ArrayLike, t: ArrayLike, uplift: ArrayLike, normalize: Normalize = "perfect"
) -> float:
    """Area under the uplift curve.

    ``"perfect"`` (default): the area between the uplift curve and the random
    line divided by that of the perfect uplift curve (0 random, 1 perfect);
    equal to ``sklift.metrics.uplift_auc_score``. ``"causalml"``:
    ``causalml.metrics.auuc_score``, the mean over k = 0..n of
    ``U(k) / |U(n)|``, *not* net of random (a random ranking scores about 0.5).
    ``"none"``: area between the curve and the random line divided by n.
    """
    _check_normalize(normalize)
    ya, ta, ua = _validate(y, t, uplift)
    curve = uplift_curve(ya, ta, ua)
    if normalize == "causalml":
        return _causalml_mean(curve, ya.size)
    perfect = curve if normalize == "none" else perfect_uplift_curve(ya, ta)
    return _normalised(curve, perfect, normalize)


def uplift_at_k(y: ArrayLike, t: ArrayLike, uplift: ArrayLike, k: float) -> float:
    """Treated minus control mean outcome among the top ``floor(k * n)`` rows.

    scikit-uplift's ``uplift_at_k(strategy="overall")``. NaN when the top rows
    hold no treated or no control row.

    Parameters
    ----------
    k : float
        Share of rows targeted, in (0, 1).
    """
    if not 0.0 < k < 1.0:
        raise DataValidationError(f"k: got {k!r}, expected a share in (0, 1)")
    ya, ta, ua = _validate(y, t, uplift)
    top = _order(ua)[: int(ya.size * k)]
    yt, tt = ya[top], ta[top]
    n_t = int(tt.sum())
    n_c = tt.size - n_t
    if n_t == 0 or n_c == 0:
        return float("nan")
    return float(yt[tt == 1].mean() - yt[tt == 0].mean())


def evaluate_uplift(
    y: ArrayLike, t: ArrayLike, uplift: ArrayLike, normalize: Normalize = "perfect"
) -> UpliftScores:
    """Qini coefficient, AUUC and uplift at 10/20/30% of one ranking."""
    return UpliftScores(
        qini=qini_coefficient(y, t, uplift, normalize),
        auuc=auuc(y, t, uplift, normalize),
        uplift_at_10=uplift_at_k(y, t, uplift, 0.1),
        uplift_at_20=uplift_at_k(y, t, uplift, 0.2),
        uplift_at_30=uplift_at_k(y, t, uplift, 0.3),
    )


def plot_curves(
    curves: Mapping[str, Curve],
    *,
    kind: Literal["qini", "uplift"] = "qini",
    perfect: Curve | None = None,
) -> Figure:
    """A matplotlib figure of one or more curves with the random line.

    Parameters
    ----------
    curves : mapping of str to Curve
        Label -> curve (from :func:`qini_curve` or :func:`uplift_curve`).
    kind : {"qini", "uplift"}
        Only sets the axis labels.
    perfect : Curve, optional
        Drawn dashed when given.

    Returns
    -------
    matplotlib.figure.Figure
        Not attached to pyplot (no global state); save it with ``savefig``.
    """
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.4, 4.8))
    ax = fig.add_subplot()
    end_x, end_y = 0.0, 0.0
    for label, c in curves.items():
        share = c.x / c.x[-1] if c.x[-1] else c.x
        ax.plot(share, c.y, label=label)
        end_x, end_y = float(c.x[-1]), float(c.y[-1])
    if perfect is not None:
        ax.plot(perfect.x / perfect.x[-1], perfect.y, "--", label="perfect")
    if end_x:
        ax.plot([0, 1], [0, end_y], ":", color="grey", label="random")
    ax.set_xlabel("share of rows targeted (highest predicted uplift first)")
    ax.set_ylabel(
        "incremental outcomes (Qini)" if kind == "qini" else "cumulative uplift"
    )
    ax.set_title("Qini curve" if kind == "qini" else "Uplift curve")
    ax.legend(loc="best")
    fig.tight_layout()
    return fig
