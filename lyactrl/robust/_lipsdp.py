"""LipSDP-Neuron (Fazlyab et al., NeurIPS 2019) with a re-verified, sound answer.

For ``f(x) = W_l phi(W_{l-1} ... phi(W_0 x))`` with every activation slope-restricted in
``[alpha_i, beta_i]``, ``||f(x) - f(y)||_2 <= sqrt(rho) ||x - y||_2`` whenever a diagonal
``T = diag(lambda) >= 0`` makes

    M(rho, T) = [A; B]^T [[-2 diag(alpha beta) T, diag(alpha + beta) T],
                          [diag(alpha + beta) T, -2 T]] [A; B]
                + blkdiag(-rho I, 0, ..., 0, W_l^T W_l)

negative semidefinite (``A = [blkdiag(W_0..W_{l-1}), 0]``, ``B = [0, I]``). cvxpy minimises
``rho``. The solver's ``T`` is then re-checked in float64: for that ``T`` the least ``rho`` is
the largest eigenvalue of a Schur complement, and ``rho`` is raised until ``numpy.linalg.eigvalsh``
finds every eigenvalue of ``M`` below ``-10 n eps ||M||_F`` (a margin above its rounding error).
The returned ``sqrt(rho)`` is therefore an upper bound whatever the solver's accuracy.
"""

from __future__ import annotations

import numpy as np

from .._api import optional_import
from ..sdp import SOLVERS, solve_problem

__all__ = ["lipsdp_chain", "lmi_matrix", "certify_rho"]

#: SCS settings: moderate accuracy is enough, since the multipliers are re-verified and the
#: least rho for them is recomputed exactly (a Schur complement), so solver inaccuracy only
#: costs tightness, never soundness.
_SETTINGS = {"scs": {"eps_abs": 1e-5, "eps_rel": 1e-5, "max_iters": 20_000}}


def lmi_matrix(
    weights: list[np.ndarray], slopes: list[tuple[float, float]], lam: list[np.ndarray], rho: float
) -> np.ndarray:
    """The LMI matrix ``M(rho, T)`` in numpy (``weights`` has one more entry than ``slopes``)."""
    dims = [weights[0].shape[1]] + [w.shape[0] for w in weights[:-1]]
    offs = np.concatenate([[0], np.cumsum(dims)])
    n = int(offs[-1])
    M = np.zeros((n, n))
    for k, (w, (a, b), lk) in enumerate(zip(weights[:-1], slopes, lam, strict=True)):
        i0, i1 = slice(offs[k], offs[k + 1]), slice(offs[k + 1], offs[k + 2])
        M[i0, i0] += w.T @ ((-2.0 * a * b * lk)[:, None] * w)
        cross = w.T * ((a + b) * lk)[None, :]
        M[i0, i1] += cross
        M[i1, i0] += cross.T
        M[i1, i1] += np.diag(-2.0 * lk)
    M[: dims[0], : dims[0]] -= rho * np.eye(dims[0])
    last = slice(offs[-2], offs[-1])
    M[last, last] += weights[-1].T @ weights[-1]
    return M


def _eig_margin(M: np.ndarray) -> float:
    return 10.0 * M.shape[0] * np.finfo(np.float64).eps * float(np.linalg.norm(M))


def certify_rho(
    weights: list[np.ndarray], slopes: list[tuple[float, float]], lam: list[np.ndarray]
) -> float | None:
    """The least ``rho`` (rounded up) with ``M(rho, T)`` verified NSD, or ``None`` if none."""
    n0 = weights[0].shape[1]
    M0 = lmi_matrix(weights, slopes, lam, 0.0)
    M22 = M0[n0:, n0:]
    ev22 = np.linalg.eigvalsh(M22)
    if ev22.size and ev22[-1] >= -_eig_margin(M0):
        return None
    S = M0[:n0, :n0]
    if ev22.size:
        S = S - M0[:n0, n0:] @ np.linalg.solve(M22, M0[n0:, :n0])
    rho = max(float(np.linalg.eigvalsh(0.5 * (S + S.T))[-1]), 0.0)
    bump = 1e-12 + 1e-9 * rho
    for _ in range(60):
        M = lmi_matrix(weights, slopes, lam, rho)
        top = float(np.linalg.eigvalsh(M)[-1])
        if top <= -_eig_margin(M):
            return rho
        rho += max(bump, top + 2 * _eig_margin(M))
        bump *= 4.0
    return None


def lipsdp_chain(
    weights: list[np.ndarray], slopes: list[tuple[float, float]], *, solver: str | None = None
) -> tuple[float, float, str]:
    """Solve LipSDP for a chain; returns ``(certified_bound, solver_bound, solver_name)``.

    ``certified_bound`` is ``inf`` when no re-verified multiplier was found.
    """
    cp = optional_import("cvxpy")
    dims = [weights[0].shape[1]] + [w.shape[0] for w in weights[:-1]]
    lams = [cp.Variable(d, nonneg=True) for d in dims[1:]]
    rho = cp.Variable(nonneg=True)
    blocks: list[list[object]] = [[None] * len(dims) for _ in dims]
    for i, di in enumerate(dims):
        for j, dj in enumerate(dims):
            blocks[i][j] = np.zeros((di, dj))
    blocks[0][0] = -rho * np.eye(dims[0])
    for k, (w, (a, b)) in enumerate(zip(weights[:-1], slopes, strict=True)):
        lk = lams[k]
        if a * b != 0.0:
            blocks[k][k] = blocks[k][k] + w.T @ cp.diag(-2.0 * a * b * lk) @ w
        # w^T diag((a + b) lam), written elementwise so its coefficients stay sparse
        cross = cp.multiply(
            w.T, np.ones((w.shape[1], 1)) @ cp.reshape((a + b) * lk, (1, w.shape[0]), order="C")
        )
        blocks[k][k + 1] = cross
        blocks[k + 1][k] = cross.T
        blocks[k + 1][k + 1] = cp.diag(-2.0 * lk)
    blocks[-1][-1] = blocks[-1][-1] + weights[-1].T @ weights[-1]
    M = cp.bmat(blocks)
    problem = cp.Problem(cp.Minimize(rho), [0.5 * (M + M.T) << 0])
    # Interior point (Clarabel) is accurate but its cost grows like n^6 for an n x n LMI;
    # the first-order SCS takes over beyond a few dozen rows (the answer is re-verified anyway).
    order = SOLVERS if sum(dims) <= 80 else SOLVERS[::-1]
    used = solve_problem(
        problem, solver or order, accept_inaccurate=True, settings=_SETTINGS
    ).method
    if rho.value is None or any(lk.value is None for lk in lams):
        return float("inf"), float("nan"), used
    solver_bound = float(np.sqrt(max(float(rho.value), 0.0)))
    base = [np.maximum(np.asarray(lk.value, dtype=np.float64), 0.0) for lk in lams]
    best = float("inf")
    for scale, shift in ((1.0, 0.0), (1.0 + 1e-6, 1e-9), (1.001, 1e-7), (1.05, 1e-5)):
        lam = [scale * lk + shift * max(1.0, float(lk.max(initial=0.0))) for lk in base]
        r = certify_rho(weights, slopes, lam)
        if r is not None:
            best = min(best, float(np.sqrt(r)))
            if best <= solver_bound * (1 + 1e-6):
                break
    return best, solver_bound, used
