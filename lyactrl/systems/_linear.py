"""Linear systems ``x' = A x + B u``."""

from __future__ import annotations

from typing import Any

import torch

from .._api import checked_kwargs
from .._tensors import as_matrix
from ._base import AbstractSystem

__all__ = ["LinearSystem"]


class LinearSystem(AbstractSystem):
    """The linear system ``x' = A x`` (``+ B u`` when ``B`` is given).

    Parameters
    ----------
    A : array_like, shape (n, n)
        State matrix.
    B : array_like, shape (n, m), optional
        Input matrix; the system then has ``m`` inputs.
    state_names, input_names : sequence of str, optional
        Names of the states and inputs (``x1 ...`` and ``u1 ...`` by default).

    Examples
    --------
    >>> import torch, lyactrl
    >>> sys = lyactrl.LinearSystem([[0.0, 1.0], [-1.0, -1.0]])
    >>> sys(torch.tensor([[1.0, 0.0]], dtype=torch.float64)).tolist()
    [[0.0, -1.0]]
    """

    @checked_kwargs
    def __init__(
        self, A: Any, B: Any = None, *, state_names: Any = None, input_names: Any = None
    ) -> None:
        self.A = as_matrix(A, name="A")
        self.n_states = self.A.shape[0]
        self.B = None if B is None else as_matrix(B, name="B", square=False, rows=self.n_states)
        self.n_inputs = 0 if self.B is None else self.B.shape[1]
        self.x_eq = torch.zeros(self.n_states, dtype=torch.float64)
        self._set_names(state_names, input_names)
        self._cache: dict[tuple[torch.dtype, torch.device], tuple[torch.Tensor, Any]] = {}

    def _mats(self, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        key = (like.dtype, like.device)
        if key not in self._cache:
            At = self.A.T.to(dtype=like.dtype, device=like.device).contiguous()
            Bt = None if self.B is None else self.B.T.to(dtype=like.dtype, device=like.device)
            self._cache[key] = (At, Bt)
        return self._cache[key]

    def vector_field(
        self, t: float | torch.Tensor, x: torch.Tensor, u: torch.Tensor | None = None
    ) -> torch.Tensor:
        At, Bt = self._mats(x)
        dx = x @ At
        if Bt is not None and u is not None:
            dx = dx + u @ Bt
        return dx

    def __repr__(self) -> str:
        return f"LinearSystem(n_states={self.n_states}, n_inputs={self.n_inputs})"
