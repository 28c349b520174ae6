"""Closed-form pieces of the CLV predictions, evaluated without overflow.

The BG/NBD conditional expectation contains ``(1 - z)^(r+x) 2F1(r+x, b+x; c;
z)``: for a heavy buyer (x in the thousands) the hypergeometric factor grows
like ``exp(x z)`` while the power shrinks like ``exp(-x z)``, and the product of
a huge and a tiny float is where ``lifetimes`` returns inf or NaN. Euler's
transformation ``2F1(A, B; C; z) = (1 - z)^(C-A-B) 2F1(C-A, C-B; C; z)`` turns
it into ``(1 - z)^(a-1) 2F1(C-r-x, a-1; C; z)``, whose numerator parameters do
not grow with ``x``: the series converges fast and every term is bounded.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

__all__ = ["euler_bracket", "expm1_ratio"]

FloatArray = NDArray[np.float64]

#: Relative size of the last series term kept.
_EPS = 1e-16
#: Series terms at most (z = 0.9999 needs ~3.7e5; horizons that long relative
#: to the customer's age are outside the model's use).
_MAX_TERMS = 400_000


def expm1_ratio(c: FloatArray | float, y: FloatArray | float) -> FloatArray:
    """``(1 - exp(-c y)) / c``, with its limit ``y`` as ``c -> 0``.

    Examples
    --------
    >>> float(expm1_ratio(0.0, 2.0)), round(float(expm1_ratio(1.0, 2.0)), 6)
    (2.0, 0.864665)
    """
    c = np.asarray(c, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    small = np.abs(c * y) < 1e-8
    safe_c = np.where(small, 1.0, c)
    exact = -np.expm1(-c * y) / safe_c
    # Second-order Taylor expansion: y - c y^2 / 2.
    return np.where(small, y - 0.5 * c * y * y, exact)


def euler_bracket(
    A: FloatArray | float,
    a: FloatArray | float,
    C: FloatArray | float,
    z: FloatArray | float,
) -> FloatArray:
    """``(1 - (1-z)^(a-1) 2F1(A, a-1; C; z)) / (a - 1)`` for ``0 <= z < 1``.

    With ``2F1(A, a-1; C; z) = 1 + (a-1) G``, ``G = sum_{n>=1} (A)_n (a)_{n-1}
    z^n / ((C)_n n!)``, the bracket is ``(1 - (1-z)^(a-1)) / (a-1) - (1-z)^(a-1)
    G``: no division by ``a - 1`` (the BG/NBD expectation at ``a = 1``) and no
    cancellation between large numbers.

    Parameters
    ----------
    A, a, C : float or ndarray (n,)
        Hypergeometric parameters, ``C > 0``, ``a > 0``.
    z : float or ndarray (n,)
        Argument in ``[0, 1)``.

    Returns
    -------
    ndarray (n,)

    Examples
    --------
    >>> from scipy.special import hyp2f1
    >>> A, a, C, z = 3.5, 1.7, 9.0, 0.3
    >>> ref = (1 - (1 - z) ** (a - 1) * hyp2f1(A, a - 1, C, z)) / (a - 1)
    >>> bool(abs(float(euler_bracket(A, a, C, z)) - ref) < 1e-13)
    True
    """
    A, a, C, z = np.broadcast_arrays(
        *(np.asarray(v, dtype=np.float64) for v in (A, a, C, z))
    )
    shape = z.shape
    A, a, C, z = (v.reshape(-1) for v in (A, a, C, z))
    log1mz = np.log1p(-z)
    first = expm1_ratio(a - 1.0, -log1mz)
    # G by its power series, vectorised over rows, shrinking to the rows whose
    # terms are still significant.
    total = np.zeros(z.size)
    term = A * z / C  # n = 1: (A)_1 (a)_0 z / ((C)_1 1!)
    active = np.flatnonzero(term != 0)
    term = term[active]
    n = 1
    while active.size and n < _MAX_TERMS:
        total[active] += term
        ratio = (A[active] + n) * (a[active] + n - 1) / ((C[active] + n) * (n + 1))
        term = term * ratio * z[active]
        n += 1
        keep = np.abs(term) > _EPS * np.abs(total[active])
        # a decreasing tail cannot stop early while terms still grow
        keep |= np.abs(ratio * z[active]) >= 1.0
        if not keep.all():
            active, term = active[keep], term[keep]
    return (first - np.exp((a - 1.0) * log1mz) * total).reshape(shape)
