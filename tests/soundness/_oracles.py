"""Independent oracles of the soundness suite: scipy simulation, numpy and mpmath residuals.

Nothing here calls lyactrl's own evaluation, simulation or bounds: every system and candidate
is restated as a plain numpy / mpmath function by the test that uses it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import mpmath
import numpy as np
from scipy.integrate import solve_ivp

VectorField = Callable[[np.ndarray], np.ndarray]  # (n, batch) -> (n, batch)

#: mpmath precision of every exact re-evaluation
DIGITS = 50


def dense_grid(lo: Sequence[float], hi: Sequence[float], n: int) -> np.ndarray:
    """The ``n``-per-axis grid of the box ``[lo, hi]``, shape ``(n**d, d)``."""
    axes = [np.linspace(a, b, n) for a, b in zip(lo, hi, strict=True)]
    return np.stack(np.meshgrid(*axes, indexing="ij"), -1).reshape(-1, len(lo))


def trajectories(f: VectorField, x0: np.ndarray, t_end: float, n_times: int = 200):
    """Integrate ``x' = f(x)`` from every row of ``x0`` at once (RK45, tight tolerances).

    Returns ``(t, X)`` with ``X`` of shape ``(len(t), batch, n)``.
    """
    batch, n = x0.shape

    def rhs(_t: float, y: np.ndarray) -> np.ndarray:
        return f(y.reshape(batch, n).T).T.reshape(-1)

    t_eval = np.linspace(0.0, t_end, n_times)
    sol = solve_ivp(rhs, (0.0, t_end), x0.reshape(-1), t_eval=t_eval, rtol=1e-10, atol=1e-12)
    assert sol.status == 0, sol.message
    return sol.t, sol.y.T.reshape(len(sol.t), batch, n)


def assert_converges(f: VectorField, x0: np.ndarray, x_eq: np.ndarray, t_end: float, tol=1e-4):
    """Every trajectory from ``x0`` ends within ``tol`` of ``x_eq`` at ``t_end``."""
    _, X = trajectories(f, x0, t_end)
    dist = np.linalg.norm(X[-1] - x_eq, axis=1)
    bad = dist > tol
    assert not bad.any(), f"{int(bad.sum())} start(s) do not converge, e.g. {x0[bad][:3]}"


def assert_decay_bound(f: VectorField, x0: np.ndarray, x_eq: np.ndarray, c: float, alpha: float):
    """``||x(t) - x_eq|| <= c exp(-alpha t) ||x0 - x_eq||`` along every simulated trajectory
    (with a slack of the integrator's tolerance)."""
    t, X = trajectories(f, x0, 6.0 / max(alpha, 1e-3) if alpha > 0 else 10.0)
    dist = np.linalg.norm(X - x_eq, axis=2)
    bound = c * np.exp(-alpha * t)[:, None] * np.linalg.norm(x0 - x_eq, axis=1)[None]
    excess = dist - bound * (1 + 1e-7) - 1e-9
    assert (excess <= 0).all(), f"decay bound violated by {excess.max():.3g}"


def mp_residual(
    f: Callable[[list], list],
    V: Callable[[list], object],
    grad_V: Callable[[list], list],
    x: Sequence[float],
    rate: float,
    *,
    margin: float = 0.0,
    x_eq: Sequence[float] | None = None,
) -> mpmath.mpf:
    """``grad V . f + rate V (+ margin ||x - x_eq||^2)`` at the float point ``x``, exactly as
    the real-number statement reads, in mpmath at :data:`DIGITS` digits (constants such as
    ``1/10`` are the user's to write exactly in ``f``)."""
    with mpmath.workdps(DIGITS):
        p = [mpmath.mpf(float(v)) for v in x]
        dot = mpmath.fsum(g * fi for g, fi in zip(grad_V(p), f(p), strict=True))
        r = dot + mpmath.mpf(rate) * V(p)
        if margin:
            e = [mpmath.mpf(0)] * len(p) if x_eq is None else [mpmath.mpf(float(v)) for v in x_eq]
            r += mpmath.mpf(margin) * mpmath.fsum((a - b) ** 2 for a, b in zip(p, e, strict=True))
        return r


def quadratic_mp(P: np.ndarray, x_eq: Sequence[float] | None = None):
    """``(V, grad V)`` of ``V = (x - x_eq)^T P (x - x_eq)`` for :func:`mp_residual` (``P`` as
    the float64 matrix lyactrl is given, read exactly)."""
    Pm = [[mpmath.mpf(float(v)) for v in row] for row in np.asarray(P)]
    n = len(Pm)
    e = [0.0] * n if x_eq is None else [float(v) for v in x_eq]

    def d(p):
        return [p[i] - mpmath.mpf(e[i]) for i in range(n)]

    def V(p):
        q = d(p)
        return mpmath.fsum(q[i] * Pm[i][j] * q[j] for i in range(n) for j in range(n))

    def grad(p):
        q = d(p)
        return [mpmath.fsum((Pm[i][j] + Pm[j][i]) * q[j] for j in range(n)) for i in range(n)]

    return V, grad


def assert_falsified_soundly(res, mp_res: Callable[[Sequence[float]], mpmath.mpf]) -> None:
    """A ``falsified`` result has counterexamples, all proved (where the result says which),
    and each has a residual that is strictly positive at 50 digits."""
    assert str(res.status) == "falsified"
    cx = res.counterexamples
    assert cx.shape[0] > 0, "falsified without a counterexample"
    proved = getattr(res, "counterexamples_proved", None)
    if proved is not None:
        assert bool(proved.all()), f"unproved counterexamples listed: {proved.tolist()}"
    for x in cx.tolist():
        with mpmath.workdps(DIGITS):
            r = mp_res(x)
            assert r > 0, f"counterexample {x} has exact residual {mpmath.nstr(r, 10)} <= 0"
