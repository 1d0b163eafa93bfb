"""Upper bounds on the Lipschitz constant of a network."""

from __future__ import annotations

import dataclasses
import math
import time
from typing import Any

import numpy as np
from torch import nn

from .._api import checked_kwargs
from .._errors import InvalidValueError, UnsupportedOperationError
from .._results import ResultMixin, Status
from ._layers import Op, flatten_module
from ._lipsdp import lipsdp_chain
from ._norms import NormFactor, compose_dense, linf_factor, spectral_factor

__all__ = ["LipschitzBound", "lipschitz_bound", "METHODS", "NORMS"]

#: Methods accepted by :func:`lipschitz_bound`.
METHODS = ("product", "lipsdp", "lipsdp-split")
#: Norms accepted by :func:`lipschitz_bound` (the same norm on inputs and outputs).
NORMS = ("2", "inf")


@dataclasses.dataclass(frozen=True)
class LipschitzBound(ResultMixin):
    """The result of :func:`lipschitz_bound`.

    Attributes
    ----------
    status : Status
        ``certified`` when ``value`` is a finite sound upper bound on the Lipschitz constant in
        ``norm`` (floating-point margins included): exact float64 norms inflated by a relative
        ``1e-9``, FFT bounds, slope bounds, and LipSDP multipliers re-verified against the LMI
        with ``numpy.linalg.eigvalsh`` and a rounding margin. ``unknown`` when no finite bound
        was obtained (LipSDP found no verifiable multiplier; ``value`` is then ``inf``).
    method : str
        ``"product"``, ``"lipsdp"`` or ``"lipsdp-split"``.
    seconds : float
        Wall time.
    message : str
        How each part of the bound was obtained (for LipSDP: the solver and the relative gap
        between the verified value and the solver's own optimum).
    value : float
        The upper bound (``inf`` when ``status`` is ``unknown``).
    norm : str
        ``"2"`` or ``"inf"`` (the same norm on inputs and outputs).
    exact : bool
        ``value`` equals the constant up to the rounding margin (a single linear map).
    factors : list of dict
        The per-part bounds whose product is ``value``.
    solver_value : float or None
        The SDP solver's own (unverified) optimum for the LipSDP methods.
    """

    status: Status
    method: str
    seconds: float
    message: str
    value: float
    norm: str
    exact: bool
    factors: list[dict[str, Any]]
    solver_value: float | None = None

    def __float__(self) -> float:
        return self.value

    def __str__(self) -> str:
        kind = "exact" if self.exact else "upper bound"
        return f"Lipschitz ({self.norm}-norm, {self.method}): {self.value:.6g} ({kind})"


def _result(
    method: str,
    t0: float,
    value: float,
    nm: str,
    exact: bool,
    how: str,
    factors: list[NormFactor],
    solver_value: float | None = None,
) -> LipschitzBound:
    """The result, ``certified`` when the bound is finite."""
    return LipschitzBound(
        status=Status.CERTIFIED if math.isfinite(value) else Status.UNKNOWN,
        method=method,
        seconds=time.perf_counter() - t0,
        message=how,
        value=value,
        norm=nm,
        exact=exact,
        factors=[f.to_dict() for f in factors],
        solver_value=solver_value,
    )


def _segments(ops: list[Op]) -> list[tuple[str, list[Op] | tuple[float, float]]]:
    """Alternate ``("linear", ops)`` and ``("activation", slopes)``, starting and ending
    with a linear segment (an empty list of ops is the identity)."""
    out: list[tuple[str, Any]] = [("linear", [])]
    for op in ops:
        if op.kind == "activation":
            out.append(("activation", (op.slopes, op.in_dim)))
            out.append(("linear", []))
        elif op.kind == "linear":
            out[-1][1].append(op)
        elif op.kind == "pool":
            out.append(("pool", op))
            out.append(("linear", []))
    return out


def _norm_name(norm: Any) -> str:
    if isinstance(norm, bool):
        raise InvalidValueError(f"norm: expected one of 2, 'inf', received {norm!r}")
    if norm in (2, 2.0, "2", "l2"):
        return "2"
    if norm in ("inf", "linf", math.inf):
        return "inf"
    raise InvalidValueError(f"norm: expected one of 2, 'inf', received {norm!r}")


def _product(segs: list[Any], norm: str) -> tuple[float, bool, list[NormFactor], str]:
    factors: list[NormFactor] = []
    value = 1.0
    for k, (kind, item) in enumerate(segs):
        if kind == "activation":
            (a, b), _ = item
            lip = max(abs(a), abs(b))
            factors.append(NormFactor(f"activation {k // 2}", lip, lip, True, "slope bound"))
        elif kind == "pool":
            factors.append(NormFactor(item.name, 1.0, 1.0, False, "non-overlapping max pool"))
        elif item:
            f = (spectral_factor if norm == "2" else linf_factor)(f"linear {k // 2}", item)
            factors.append(f)
        else:
            continue
        value *= factors[-1].upper
    n_lin = sum(1 for kind, item in segs if kind == "linear" and item)
    n_act = sum(1 for kind, _ in segs if kind != "linear")
    exact = n_act == 0 and n_lin == 1 and factors[0].exact
    if exact:
        acc = factors[0].how
    else:
        acc = (
            "upper bound: product of per-layer norms ("
            + "; ".join(f"{f.name}: {f.how}" for f in factors)
            + ")"
        )
    return value, exact, factors, acc


def _weight_chain(segs: list[Any]) -> tuple[list[np.ndarray], list[tuple[float, float]]]:
    weights, slopes = [], []
    dim = None
    for kind, item in segs:
        if kind == "activation":
            slopes.append(item[0])
            dim = item[1]
            continue
        if item:
            M = compose_dense(item)
            if M is None:
                raise InvalidValueError(
                    "method: 'lipsdp' needs every linear step written as a matrix, but one is "
                    "too large; use method='product' or 'lipsdp-split' with a smaller input"
                )
            weights.append(M)
        else:
            weights.append(np.eye(dim if dim is not None else 1))
    if segs[0][0] == "linear" and not segs[0][1]:
        weights[0] = np.eye(segs[1][1][1])
    return weights, slopes


def _lipsdp(
    segs: list[Any], split: int | None, solver: str | None
) -> tuple[float, float, str, list[NormFactor]]:
    weights, slopes = _weight_chain(segs)
    if not slopes:
        return 0.0, 0.0, "none", []
    total, solver_total, used, factors = 1.0, 1.0, "", []
    # an activation with nothing after it (or before it) only contributes its slope bound:
    # peel it off instead of paying for it in the SDP
    if not segs[-1][1] and len(slopes) > 1:
        a, b = slopes.pop()
        weights.pop()
        lip = max(abs(a), abs(b))
        factors.append(NormFactor("last activation", lip, lip, True, "slope bound"))
        total, solver_total = total * lip, solver_total * lip
    if not segs[0][1] and len(slopes) > 1:
        a, b = slopes.pop(0)
        weights.pop(0)
        lip = max(abs(a), abs(b))
        factors.append(NormFactor("first activation", lip, lip, True, "slope bound"))
        total, solver_total = total * lip, solver_total * lip
    step = len(slopes) if split is None else split
    for start in range(0, len(slopes), step):
        stop = min(start + step, len(slopes))
        # blocks after the first start with the identity: the activation between two blocks
        # belongs to the later one, so no slope constraint is lost.
        if start > 0:
            ws = [np.eye(weights[start].shape[0])] + weights[start + 1 : stop + 1]
        else:
            ws = weights[: stop + 1]
        bound, sb, used = lipsdp_chain(ws, slopes[start:stop], solver=solver)
        bound = float(np.nextafter(bound, np.inf))
        factors.append(NormFactor(f"block {len(factors)}", bound, 0.0, False, f"LipSDP ({used})"))
        total *= bound
        solver_total *= sb
    return total, solver_total, used, factors


@checked_kwargs
def lipschitz_bound(
    module: nn.Module,
    *,
    method: str = "product",
    norm: Any = 2,
    input_shape: tuple[int, ...] | None = None,
    split: int = 2,
    solver: str | None = None,
) -> LipschitzBound:
    """An upper bound on the Lipschitz constant of a feed-forward network.

    Parameters
    ----------
    module : torch.nn.Module
        A ``Linear``/``Conv1d``/``Conv2d``/``AvgPool2d`` layer, an elementwise activation, or a
        (nested) ``nn.Sequential`` of those and ``Flatten``/``Identity``/``Dropout`` (eval).
    method : {"product", "lipsdp", "lipsdp-split"}
        ``"product"``: product of the operator norms of the linear steps (consecutive linear
        layers composed into one matrix when small) and of the activations' slope bounds.
        ``"lipsdp"``: one LipSDP-Neuron semidefinite program (2-norm only; every linear step
        is written as a matrix for ``input_shape``). ``"lipsdp-split"``: LipSDP on blocks of
        ``split`` activation layers, multiplied (for networks too large for one SDP).
    norm : {2, "inf"}
        The norm on inputs and outputs.
    input_shape : tuple of int, optional
        Input shape without the batch dimension; needed for convolutions (the bounds are for
        this input size).
    split : int
        Activation layers per SDP for ``"lipsdp-split"``.
    solver : str, optional
        cvxpy solver name (Clarabel, else SCS, by default).

    Returns
    -------
    LipschitzBound
        ``value`` is always an upper bound (``status`` ``certified`` when it is finite). Exact spectral and l-inf norms are computed in
        float64 and inflated by a relative 1e-9; LipSDP values are re-verified against the
        LMI with ``numpy.linalg.eigvalsh`` and raised until it holds with a rounding margin.

    Examples
    --------
    >>> import torch, lyactrl
    >>> layer = torch.nn.Linear(2, 2, bias=False)
    >>> with torch.no_grad():
    ...     _ = layer.weight.copy_(torch.tensor([[3.0, 0.0], [0.0, 1.0]]))
    >>> b = lyactrl.lipschitz_bound(layer)
    >>> round(b.value, 6), b.exact, str(b.status)
    (3.0, True, 'certified')
    """
    t0 = time.perf_counter()
    nm = _check_options(method, norm, split)
    segs = _segments(flatten_module(module, input_shape))
    if method != "product" and any(kind == "pool" for kind, _ in segs):
        raise UnsupportedOperationError(
            f"module: method {method!r} handles elementwise activations only, received a "
            "network with max pooling; use method='product'"
        )
    if method == "product":
        value, exact, factors, acc = _product(segs, nm)
        return _result(method, t0, value, nm, exact, acc, factors)
    return _lipsdp_result(segs, nm, method, split, solver, t0)


def _check_options(method: str, norm: Any, split: Any) -> str:
    """Validate the options of :func:`lipschitz_bound`; return the norm's name."""
    if method not in METHODS:
        raise InvalidValueError(f"method: expected one of {METHODS}, received {method!r}")
    nm = _norm_name(norm)
    if isinstance(split, bool) or not isinstance(split, int) or split < 1:
        raise InvalidValueError(f"split: expected an int >= 1, received {split!r}")
    if method != "product" and nm != "2":
        raise InvalidValueError(
            f"norm: method {method!r} bounds the 2-norm only; received norm={norm!r} (use "
            "method='product' for 'inf')"
        )
    return nm


def _lipsdp_result(
    segs: list[Any], nm: str, method: str, split: int, solver: str | None, t0: float
) -> LipschitzBound:
    """The LipSDP bound (or the product bound when there is no activation)."""
    value, solver_value, used, factors = _lipsdp(
        segs, split if method == "lipsdp-split" else None, solver
    )
    if not factors:
        value, exact, nf, acc = _product(segs, nm)
        return _result(method, t0, value, nm, exact, acc, nf)
    gap = value / solver_value - 1.0 if solver_value > 0 else float("nan")
    acc = (
        f"solver-accurate upper bound: LipSDP-Neuron solved with {used}, the multipliers "
        f"re-verified in float64 (eigvalsh of the LMI below -10 n eps ||M||_F); the verified "
        f"value exceeds the solver's optimum by {gap:.2e} relative"
    )
    if not math.isfinite(value):
        acc = "LipSDP failed to produce a verifiable multiplier; the value is inf"
    return _result(method, t0, value, nm, False, acc, factors, solver_value)
