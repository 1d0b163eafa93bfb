"""Operator norms of the linear steps of a network, each with a statement of its accuracy.

* the dense matrix of a linear map (for a fixed input size) and its exact spectral norm;
* an FFT upper bound on the spectral norm of a zero-padded convolution too large to write
  out (the convolution is a compression of a circular convolution on a larger grid, whose
  norm is the largest singular value of the kernel's transfer matrix over the grid's
  frequencies), beside a power-iteration lower bound;
* exact l-inf (largest absolute row sum) and l1 (largest absolute column sum) norms.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np
import torch
from torch import nn

from .._api import choice
from ._layers import Op

__all__ = [
    "NORMS",
    "check_norm",
    "NormFactor",
    "dense_matrix",
    "compose_dense",
    "spectral_factor",
    "linf_factor",
    "ROUNDING",
]

#: The norms of the robustness layer (perturbations, attacks, Lipschitz bounds, radii).
NORMS = ("2", "inf")


def check_norm(norm: Any) -> str:
    """The canonical name in :data:`NORMS` of ``norm`` (``2``, ``"l2"``, ``"inf"``,
    ``"linf"``, ``math.inf`` accepted); anything else raises ``InvalidValueError``.

    Parameters
    ----------
    norm : str, int or float
        The norm to validate.

    Returns
    -------
    str
        ``"2"`` or ``"inf"``.

    Examples
    --------
    >>> from lyactrl.robust import check_norm
    >>> check_norm(2), check_norm(float("inf"))
    ('2', 'inf')
    """
    aliases = {2: "2", "l2": "2", "linf": "inf", math.inf: "inf"}
    if isinstance(norm, bool):
        return choice(repr(norm), "norm", NORMS)
    return choice(norm, "norm", NORMS, aliases=aliases)


#: Relative inflation applied to norms computed in float64 (SVD, sums of absolute values),
#: far above the rounding error of LAPACK's SVD for matrices of up to ~10^6 rows.
ROUNDING = 1e-9

#: Largest number of entries (rows x columns) of a dense matrix written out.
DENSE_LIMIT = 40_000_000


@dataclasses.dataclass(frozen=True)
class NormFactor:
    """The norm of one linear step: ``upper`` (sound), ``lower`` (attained), how computed."""

    name: str
    upper: float
    lower: float
    exact: bool
    how: str

    def to_dict(self) -> dict[str, object]:
        return dataclasses.asdict(self)


def dense_matrix(ops: list[Op], *, dtype: torch.dtype = torch.float64) -> np.ndarray:
    """The matrix (out_dim, in_dim) of a chain of linear ops (biases dropped), in float64."""
    n = ops[0].in_dim
    cols = []
    chunk = max(1, min(n, 2_000_000 // max(1, max(op.out_dim for op in ops))))
    with torch.no_grad():
        for start in range(0, n, chunk):
            stop = min(n, start + chunk)
            z = torch.zeros(stop - start, n, dtype=dtype)
            z[torch.arange(stop - start), torch.arange(start, stop)] = 1.0
            for op in ops:
                if op.kind == "linear":
                    z = op.apply(_on_device(z, op))  # type: ignore[misc]
            cols.append(z.detach().cpu().numpy().T)
    return np.concatenate(cols, axis=1)


def _on_device(z: torch.Tensor, op: Op) -> torch.Tensor:
    m = op.module
    if m is not None:
        for p in m.parameters():
            return z.to(p.device)
    return z


def dense_size(ops: list[Op]) -> int:
    return max(op.in_dim * op.out_dim for op in ops if op.kind == "linear")


def compose_dense(ops: list[Op]) -> np.ndarray | None:
    """The composed matrix of consecutive linear ops when small enough, else ``None``."""
    linear = [op for op in ops if op.kind == "linear"]
    if not linear:
        return None
    if linear[0].in_dim * linear[-1].out_dim > DENSE_LIMIT or dense_size(linear) > DENSE_LIMIT:
        return None
    return dense_matrix(linear)


def _spectral_dense(M: np.ndarray) -> float:
    small = M if M.shape[0] <= M.shape[1] else M.T
    if min(M.shape) == 0:
        return 0.0
    return float(np.linalg.svd(small, compute_uv=False)[0])


def _power_lower(op: Op, iters: int = 50, seed: int = 0) -> float:
    """A lower bound ``||A v|| / ||v||`` after power iteration on ``A^T A`` (float64)."""
    g = torch.Generator().manual_seed(seed)
    v = torch.randn(1, op.in_dim, generator=g, dtype=torch.float64)
    best = 0.0
    for _ in range(iters):
        v = v / v.norm()
        with torch.enable_grad():
            vr = _on_device(v, op).requires_grad_(True)
            out = op.apply(vr)  # type: ignore[misc]
            (w,) = torch.autograd.grad(out, vr, grad_outputs=out.detach())
        best = max(best, float(out.detach().norm()))
        v = w.detach().cpu()
        if float(v.norm()) == 0.0:
            break
    return best


def _conv_fft_upper(m: nn.Module, in_shape: tuple[int, ...]) -> float:
    """Largest singular value over the grid of a circular convolution that contains the map."""
    w = m.weight.detach().cpu().double().numpy()  # (c_out, c_in, *k)
    spatial = in_shape[1:]
    dil = tuple(m.dilation)
    if isinstance(m.padding, str):
        pad = tuple(d * (k - 1) for d, k in zip(dil, w.shape[2:], strict=True))
    else:
        pad = tuple(m.padding)
    ext = tuple(d * (k - 1) for d, k in zip(dil, w.shape[2:], strict=True))
    grid = tuple(s + 2 * p + 3 * e + 1 for s, p, e in zip(spatial, pad, ext, strict=True))
    kd = np.zeros((*w.shape[:2], *grid))
    index = (slice(None), slice(None)) + tuple(
        slice(0, e + 1, d) for e, d in zip(ext, dil, strict=True)
    )
    kd[index] = w
    khat = np.fft.fftn(kd, axes=tuple(range(2, kd.ndim)))
    mats = np.moveaxis(khat.reshape(*w.shape[:2], -1), -1, 0)  # (freq, c_out, c_in)
    return float(np.linalg.svd(mats, compute_uv=False)[:, 0].max())


def spectral_factor(name: str, ops: list[Op]) -> NormFactor:
    """Spectral norm of a chain of consecutive linear ops, exact when it can be written out."""
    linear = [op for op in ops if op.kind == "linear"]
    M = compose_dense(linear)
    if M is not None:
        s = _spectral_dense(M)
        return NormFactor(
            name,
            s * (1 + ROUNDING),
            s,
            True,
            f"exact: float64 SVD of the {M.shape[0]}x{M.shape[1]} matrix, inflated by "
            f"{ROUNDING:g} relative for rounding",
        )
    upper, lower, parts = 1.0, 0.0, []
    for op in linear:
        if op.in_dim * op.out_dim <= DENSE_LIMIT:
            s = _spectral_dense(dense_matrix([op]))
            upper *= s * (1 + ROUNDING)
            lower_op = s
            parts.append(f"{op.name}: exact SVD")
        elif isinstance(op.module, (nn.Conv1d, nn.Conv2d)) and op.module.groups == 1:
            up = _conv_fft_upper(op.module, op.in_shape) * (1 + ROUNDING)
            lower_op = _power_lower(op)
            upper *= up
            parts.append(
                f"{op.name}: FFT bound {up:.6g} (power-iteration lower bound {lower_op:.6g})"
            )
        else:
            l1 = _abs_sum(op, rows=False)
            li = _abs_sum(op, rows=True)
            up = math.sqrt(l1 * li) * (1 + ROUNDING)
            lower_op = _power_lower(op)
            upper *= up
            parts.append(f"{op.name}: sqrt(||A||_1 ||A||_inf) = {up:.6g}")
        lower = lower_op if len(linear) == 1 else 0.0
    return NormFactor(name, upper, lower, False, "upper bound: " + "; ".join(parts))


def _abs_apply(op: Op, z: torch.Tensor) -> torch.Tensor:
    """``|A| z``: the map with every weight replaced by its absolute value."""
    m = op.module
    if isinstance(m, nn.Linear):
        return z @ m.weight.detach().abs().to(z.dtype).T
    if isinstance(m, (nn.Conv1d, nn.Conv2d)):
        conv = (
            torch.nn.functional.conv1d if isinstance(m, nn.Conv1d) else torch.nn.functional.conv2d
        )
        x = z.reshape(z.shape[0], *op.in_shape)
        out = conv(
            x, m.weight.detach().abs().to(z.dtype), None, m.stride, m.padding, m.dilation, m.groups
        )
        return out.reshape(z.shape[0], -1)
    return op.apply(z)  # type: ignore[misc]  # average pooling: non-negative weights


def _abs_sum(op: Op, *, rows: bool) -> float:
    """Largest absolute row sum (``rows=True``: the l-inf norm) or column sum (the l1 norm)."""
    with torch.enable_grad():
        ones = torch.ones(1, op.in_dim, dtype=torch.float64, requires_grad=not rows)
        out = _abs_apply(op, _on_device(ones, op))
        if rows:
            s = out.detach()
        else:
            (s,) = torch.autograd.grad(out, ones, grad_outputs=torch.ones_like(out))
    n = op.in_dim if rows else op.out_dim
    return float(s.max()) * (1 + 4 * n * np.finfo(np.float64).eps)


def linf_factor(name: str, ops: list[Op]) -> NormFactor:
    """The l-inf operator norm of a chain of linear ops: exact when composed densely."""
    linear = [op for op in ops if op.kind == "linear"]
    M = compose_dense(linear)
    if M is not None:
        s = float(np.abs(M).sum(axis=1).max())
        up = s * (1 + 4 * M.shape[1] * np.finfo(np.float64).eps)
        return NormFactor(name, up, s, True, "exact: largest absolute row sum of the matrix")
    upper = 1.0
    for op in linear:
        upper *= _abs_sum(op, rows=True)
    exact = len(linear) == 1
    how = "exact: largest absolute row sum" if exact else "product of exact row-sum norms"
    return NormFactor(name, upper, upper if exact else 0.0, exact, how)
