"""Per-arm Bayesian ridge regression from additive sufficient statistics.

Each arm ``k`` keeps, for the observations ``(x_i, r_i, w_i)`` it received,

* ``gram[k] = sum_i w_i x_i x_i^T``  (d, d)
* ``xy[k]   = sum_i w_i r_i x_i``    (d,)
* ``yy[k]   = sum_i w_i r_i^2``
* ``count[k] = sum_i w_i``

Sums do not depend on the order in which observations arrive, so a batch of
delayed rewards folded at once gives the same state as the same rows folded
one by one (up to floating-point rounding). The posterior is the
normal-inverse-gamma one of Bayesian linear regression with prior
``theta | s2 ~ N(0, s2 / lambda I)``, ``s2 ~ InvGamma(a0, a0 * s0^2)``:

* precision ``A = lambda I + gram``, mean ``theta = A^{-1} xy``
* noise variance (plug-in) ``s2 = (a0 s0^2 + (yy - xy . theta) / 2) / (a0 + count / 2)``,
  per arm or pooled over the arms (residuals and counts summed)

and for a context ``x`` the expected reward has mean ``m = x . theta`` and
standard deviation ``s * sqrt(x^T A^{-1} x)`` (:func:`mean_and_width`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "ArmGaussians",
    "LinearPosterior",
    "arm_gaussians",
    "fold_linear",
    "linear_posterior",
    "mean_and_width",
]


#: Below this many rows the Cholesky form is cheaper than forming products.
_PACKED_MIN_ROWS = 64


@dataclass(frozen=True)
class ArmGaussians:
    """Gaussian posterior of every arm's coefficients, ready to score.

    Attributes
    ----------
    mean : (K, d) posterior means.
    stack_t : (d, K d) ``[U_1^T ... U_K^T]`` with ``U_k = L_k^{-1}``,
        ``precision_k = L_k L_k^T``: for a few rows, ``||U_k x||^2``.
    packed : (K, d (d + 1) / 2) upper triangle of each covariance
        ``precision_k^{-1}``, off-diagonal entries doubled: for many rows,
        ``x^T C_k x = packed_k . (x_i x_j)_{i <= j}`` (half the multiply-adds
        of the Cholesky form, in one well-shaped matrix product).
    """

    mean: NDArray[np.float64]
    stack_t: NDArray[np.float64]
    packed: NDArray[np.float64]


def arm_gaussians(
    mean: NDArray[np.float64],
    precision: NDArray[np.float64],
    scale: NDArray[np.float64] | None = None,
) -> ArmGaussians:
    """Scoring form of ``N(mean_k, scale_k^2 precision_k^{-1})``.

    ``mean`` (K, d), ``precision`` (K, d, d), ``scale`` (K,) or ``None`` (1).
    """
    k, d = mean.shape
    chol_inv = np.linalg.inv(np.linalg.cholesky(precision))
    if scale is not None:
        chol_inv *= scale[:, None, None]
    cov = np.einsum("kji,kjl->kil", chol_inv, chol_inv)  # U^T U = precision^-1
    iu, ju = np.triu_indices(d)
    packed = cov[:, iu, ju] * np.where(iu == ju, 1.0, 2.0)
    stack_t = np.ascontiguousarray(chol_inv.reshape(k * d, d).T)
    return ArmGaussians(mean, stack_t, np.ascontiguousarray(packed))


@dataclass(frozen=True)
class LinearPosterior:
    """Posterior of every arm's linear reward model.

    Attributes
    ----------
    theta : (n_arms, d) posterior means.
    gaussians : scoring form of ``N(theta_k, noise_sd_k^2 A_k^{-1})``.
    noise_sd : (n_arms,) reward noise standard deviation (estimated or fixed).
    """

    theta: NDArray[np.float64]
    gaussians: ArmGaussians
    noise_sd: NDArray[np.float64]


def fold_linear(
    gram: NDArray[np.float64],
    xy: NDArray[np.float64],
    yy: NDArray[np.float64],
    count: NDArray[np.float64],
    X: NDArray[np.float64],
    arms: NDArray[np.int64],
    rewards: NDArray[np.float64],
    weights: NDArray[np.float64] | None,
) -> None:
    """Add observations to the statistics in place (loop over arms, not rows)."""
    w = np.ones(arms.size) if weights is None else weights
    for k in np.unique(arms):
        sel = arms == k
        Xk, rk, wk = X[sel], rewards[sel], w[sel]
        gram[k] += (Xk * wk[:, None]).T @ Xk
        xy[k] += Xk.T @ (wk * rk)
        yy[k] += float(wk @ (rk * rk))
        count[k] += float(wk.sum())


def linear_posterior(
    gram: NDArray[np.float64],
    xy: NDArray[np.float64],
    yy: NDArray[np.float64],
    count: NDArray[np.float64],
    *,
    prior_precision: float,
    noise: float | str,
    noise_prior_var: float,
    noise_prior_df: float,
) -> LinearPosterior:
    """Posterior means, scoring form and noise scale of every arm.

    ``noise`` is a fixed sd (``1.0`` is the classic LinUCB/LinTS scale), or
    ``"pooled"``: one plug-in estimate shared by the arms (residuals and
    counts summed over arms), or ``"per_arm"``: one estimate per arm.

    Examples
    --------
    >>> import numpy as np
    >>> gram = np.zeros((1, 2, 2)); xy = np.zeros((1, 2)); yy = np.zeros(1)
    >>> n = np.zeros(1)
    >>> X = np.array([[1.0, 0.0], [1.0, 1.0]]); r = np.array([1.0, 3.0])
    >>> fold_linear(gram, xy, yy, n, X, np.array([0, 0]), r, None)
    >>> post = linear_posterior(gram, xy, yy, n, prior_precision=1e-9,
    ...                         noise=1.0, noise_prior_var=1.0, noise_prior_df=1.0)
    >>> np.round(post.theta, 6)  # ordinary least squares: r = 1 + 2 x
    array([[1., 2.]])
    """
    n_arms, d = xy.shape
    A = gram + prior_precision * np.eye(d)
    theta = np.asarray(np.linalg.solve(A, xy[:, :, None])[:, :, 0], dtype=np.float64)
    if isinstance(noise, str):
        resid = np.maximum(yy - np.einsum("ki,ki->k", xy, theta), 0.0)
        if noise == "pooled":
            resid, count = np.full(n_arms, resid.sum()), np.full(n_arms, count.sum())
        s2 = (noise_prior_df * noise_prior_var + 0.5 * resid) / (
            noise_prior_df + 0.5 * count
        )
        noise_sd = np.sqrt(s2)
    else:
        noise_sd = np.full(n_arms, float(noise))
    return LinearPosterior(theta, arm_gaussians(theta, A, noise_sd), noise_sd)


def mean_and_width(
    X: NDArray[np.float64], g: ArmGaussians
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Mean ``x . mean_k`` and width ``sqrt(x^T C_k x)`` for every row and arm.

    No Python loop over rows: for a few rows ``||U_k x||^2`` from one product
    ``X @ [U_1^T ... U_K^T]``; for many, the packed quadratic form
    ``P @ packed^T`` with ``P`` the ``d (d + 1) / 2`` pairwise products of each
    row (built feature by feature, a loop over ``d``). Cost ``n K d^2 / 2``
    multiply-adds.

    Parameters
    ----------
    X : (n, d) contexts.
    g : the arms' Gaussians.

    Returns
    -------
    m, w : (n, K) each.
    """
    n, d = X.shape
    k = g.mean.shape[0]
    if n < _PACKED_MIN_ROWS:
        Z = X @ g.stack_t
        np.multiply(Z, Z, out=Z)
        return X @ g.mean.T, np.sqrt(Z.reshape(n, k, d) @ np.ones(d))
    XT = np.ascontiguousarray(X.T)
    pairs = np.empty((d * (d + 1) // 2, n))
    lo = 0
    for i in range(d):
        np.multiply(XT[i], XT[i:], out=pairs[lo : lo + d - i])
        lo += d - i
    s2 = g.packed @ pairs
    np.maximum(s2, 0.0, out=s2)  # rounding can dip an exact 0 below it
    np.sqrt(s2, out=s2)
    return (g.mean @ XT).T, s2.T
