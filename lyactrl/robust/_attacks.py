"""Projected gradient descent (Madry et al., 2018) in pixel space.

The attacked input is the image in ``[0, 1]``: normalisation belongs inside the model, so the
threat model (an L-inf or L2 ball of radius ``eps`` intersected with ``[0, 1]``) is the one
reported. Any callable mapping pixel inputs to logits works: the LyaNet classifier and the
Neural ODE baseline alike (gradients flow through the torchdiffeq solver).
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import torch
import torch.nn.functional as F

from .._api import checked_kwargs
from .._errors import InvalidValueError, ShapeError
from .._results import ResultMixin, Status
from .._tensors import as_positive, check_finite, positive_int
from ._inputs import Model, check_classifier_inputs
from ._norms import check_norm
from ._square import square_attack

__all__ = ["pgd_attack", "AttackResult", "attack_accuracy", "ATTACKS"]

#: The attacks of :func:`attack_accuracy`, by option value, with the names reports use.
ATTACKS = {"pgd": "PGD", "square": "Square"}


def _eps(eps: Any, x: torch.Tensor) -> torch.Tensor:
    """``eps`` as a tensor broadcastable against ``x``: one radius, or one per example."""
    if isinstance(eps, torch.Tensor) and eps.numel() > 1:
        if eps.ndim != 1 or eps.shape[0] != x.shape[0]:
            raise ShapeError(
                f"eps: expected a number or shape ({x.shape[0]},), received {tuple(eps.shape)}"
            )
        check_finite(eps, "eps")
        if float(eps.min()) < 0:
            raise InvalidValueError(f"eps: expected radii >= 0, received {float(eps.min())}")
        e = eps.detach().to(dtype=x.dtype, device=x.device)
    else:
        e = torch.full(
            (x.shape[0],),
            as_positive(eps, name="eps", allow_zero=True),
            dtype=x.dtype,
            device=x.device,
        )
    return e.view(-1, *([1] * (x.ndim - 1)))


def _flat_norm(v: torch.Tensor) -> torch.Tensor:
    return v.flatten(1).norm(dim=1).view(-1, *([1] * (v.ndim - 1)))


def _project(delta: torch.Tensor, x: torch.Tensor, eps: torch.Tensor, norm: str) -> torch.Tensor:
    if norm == "inf":
        delta = torch.maximum(torch.minimum(delta, eps), -eps)
    else:
        n = _flat_norm(delta)
        delta = delta * torch.clamp(eps / n.clamp_min(1e-12), max=1.0)
    # clamping to the pixel box moves every coordinate towards x, so the ball is kept
    return (x + delta).clamp(0.0, 1.0) - x


def _random_start(
    x: torch.Tensor, eps: torch.Tensor, norm: str, generator: torch.Generator | None
) -> torch.Tensor:
    shape, dt = x.shape, x.dtype
    if norm == "inf":
        d = (torch.rand(shape, generator=generator, dtype=dt) * 2 - 1) * eps
    else:
        g = torch.randn(shape, generator=generator, dtype=dt)
        g = g / _flat_norm(g).clamp_min(1e-12)
        dim = x[0].numel()
        r = torch.rand(shape[0], generator=generator, dtype=dt) ** (1.0 / dim)
        d = g * (eps * r.view(-1, *([1] * (x.ndim - 1))))
    return _project(d.to(x.device), x, eps, norm)


@checked_kwargs
def pgd_attack(
    model: Model,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    eps: float,
    norm: Any = "inf",
    steps: int = 40,
    step_size: float | None = None,
    restarts: int = 1,
    random_start: bool = True,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """PGD on the cross-entropy of ``model(x)``, in pixel space ``[0, 1]``.

    Parameters
    ----------
    model : callable
        Maps pixel inputs (normalised inside) to logits ``(batch, classes)``. Put it in eval
        mode first.
    x : torch.Tensor
        Pixels in ``[0, 1]``, batch first.
    y : torch.Tensor
        True labels ``(batch,)``.
    eps : float or torch.Tensor
        Radius of the threat ball, or one radius per example (shape ``(batch,)``).
    norm : {"inf", "2"}
        L-inf (signed-gradient steps) or L2 (normalised-gradient steps).
    steps : int
        Steps per restart.
    step_size : float, optional
        Defaults to ``2.5 eps / steps`` so the iterate can cross the ball; a step size with
        ``steps * step_size < eps`` is rejected (the ball's boundary would be unreachable).
    restarts : int
        Random restarts; an example counts as broken if any restart breaks it.
    random_start : bool
        Start uniformly in the ball (the first restart starts at ``x`` when ``False``).
    generator : torch.Generator, optional
        Randomness of the starts.

    Returns
    -------
    torch.Tensor
        For each example, the first misclassified point found, else the last iterate; always
        within ``eps`` of ``x`` in ``norm`` and within ``[0, 1]``.

    Examples
    --------
    >>> import torch
    >>> from lyactrl.robust import pgd_attack
    >>> model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 2))
    >>> x = torch.full((3, 4), 0.5); y = torch.tensor([0, 1, 0])
    >>> adv = pgd_attack(model, x, y, eps=0.1, steps=5, generator=torch.Generator().manual_seed(0))
    >>> bool((adv - x).abs().max() <= 0.1 + 1e-6)
    True
    """
    x, y = check_classifier_inputs(model, x, y)
    nm = check_norm(norm)
    e = _eps(eps, x)
    emax = float(e.max()) if e.numel() else 0.0
    steps = positive_int(steps, "steps")
    restarts = positive_int(restarts, "restarts")
    if step_size is None:
        alpha: Any = 2.5 * e / steps
    else:
        alpha = as_positive(step_size, name="step_size")
        if steps * alpha < emax * (1 - 1e-9):
            raise InvalidValueError(
                f"step_size: expected steps * step_size >= eps so the attack can reach the "
                f"ball's boundary, received {steps} * {alpha:.4g} < {emax:.4g}; raise steps or "
                "step_size"
            )
    x = x.detach()
    best = x.clone()
    found = torch.zeros(x.shape[0], dtype=torch.bool, device=x.device)
    if emax == 0.0:
        return best
    for r in range(restarts):
        delta = (
            _random_start(x, e, nm, generator) if (random_start or r > 0) else torch.zeros_like(x)
        )
        for k in range(steps + 1):
            last = k == steps  # the final iterate is only evaluated
            with torch.enable_grad() if not last else torch.no_grad():
                xa = (x + delta).detach().requires_grad_(not last)
                logits = model(xa)
                if not last:
                    loss = F.cross_entropy(logits, y, reduction="sum")
                    (grad,) = torch.autograd.grad(loss, xa)
            wrong = (logits.detach().argmax(-1) != y) & ~found
            best[wrong] = xa.detach()[wrong]
            found |= wrong
            if bool(found.all()):
                return best
            if last:
                break
            if nm == "inf":
                step = alpha * grad.sign()
            else:
                step = alpha * grad / _flat_norm(grad).clamp_min(1e-12)
            delta = _project(delta + step, x, e, nm)
        best[~found] = (x + delta)[~found]
    return best


@dataclasses.dataclass(frozen=True)
class AttackResult(ResultMixin):
    """Clean and attacked accuracy under one threat model and one solver setting.

    Attributes
    ----------
    status : Status
        Always ``estimated``: an attack measures an empirical figure. Every break it counts is
        a real misclassified input within the ball, so ``adversarial_accuracy`` is an upper
        bound on the robust accuracy; the examples it fails to break are not proved robust.
    method : str
        ``"pgd"`` or ``"square"``.
    seconds : float
        Wall time.
    message : str
        The threat model and the solver, in words.
    norm, eps, steps, step_size, restarts
        The threat model and the PGD settings.
    n, clean_accuracy, adversarial_accuracy
        Examples, clean and attacked accuracy (the same model call for both).
    solver : str
        The solver settings of the model, as given to :func:`attack_accuracy`.
    """

    status: Status
    method: str
    seconds: float
    message: str
    norm: str
    eps: float
    steps: int
    step_size: float
    restarts: int
    n: int
    clean_accuracy: float
    adversarial_accuracy: float
    solver: str

    def __str__(self) -> str:
        how = (
            f"{self.steps} steps of {self.step_size:.4g}, {self.restarts} restart(s)"
            if self.method == "pgd"
            else f"{self.steps} iterations"
        )
        return (
            f"{ATTACKS[self.method]} L{self.norm} eps={self.eps:g} "
            f"({how}, solver {self.solver}): clean {self.clean_accuracy:.4f}, "
            f"attacked {self.adversarial_accuracy:.4f} on {self.n} examples"
        )


@checked_kwargs
def attack_accuracy(
    model: Model,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    eps: float,
    norm: Any = "inf",
    steps: int = 40,
    step_size: float | None = None,
    restarts: int = 1,
    batch_size: int = 256,
    generator: torch.Generator | None = None,
    solver: str = "as configured in the model",
    attack: str = "pgd",
) -> AttackResult:
    """Clean and attacked accuracy of ``model`` on ``(x, y)``, with the same model for both.

    ``solver`` is recorded in the result: name the ODE solver settings the model integrates
    with (the same for the clean and the attacked accuracy).

    Parameters
    ----------
    model : callable
        Maps pixels in ``[0, 1]`` to logits (normalisation inside the model).
    x, y : torch.Tensor
        Inputs and labels.
    eps : float
        Attack radius in pixel space.
    norm : {"inf", "2"}
        The attack norm.
    steps, step_size, restarts
        PGD iterations, step (``2.5 eps / steps`` by default) and random restarts. For the
        Square attack ``steps`` is its number of iterations (queries), and the other two are
        not used.
    batch_size : int
        Inputs attacked at once.
    generator : torch.Generator, optional
        For the random starts.
    solver : str
        The solver settings, recorded in the result.
    attack : {"pgd", "square"}
        PGD (:func:`pgd_attack`), or the gradient-free L-inf Square attack
        (:func:`square_attack`), which checks PGD's figures for gradient masking.

    Examples
    --------
    >>> import torch
    >>> from lyactrl.robust import attack_accuracy
    >>> model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 2))
    >>> x = torch.rand(8, 4, generator=torch.Generator().manual_seed(0))
    >>> r = attack_accuracy(model, x, torch.zeros(8, dtype=torch.long), eps=0.0, solver="none")
    >>> r.adversarial_accuracy == r.clean_accuracy, str(r.status)
    (True, 'estimated')
    """
    x, y = check_classifier_inputs(model, x, y)
    nm = check_norm(norm)
    if attack not in ATTACKS:
        raise InvalidValueError(f"attack: expected one of {tuple(ATTACKS)}, received {attack!r}")
    if attack == "square" and nm != "inf":
        raise InvalidValueError(f"norm: the Square attack is L-inf only, received norm={nm!r}")
    bs = positive_int(batch_size, "batch_size")
    eps = as_positive(eps, name="eps", allow_zero=True)
    t0 = time.perf_counter()
    clean = adv = 0
    alpha = 2.5 * float(eps) / steps if step_size is None else float(step_size)
    for i in range(0, x.shape[0], bs):
        xb, yb = x[i : i + bs], y[i : i + bs]
        with torch.no_grad():
            clean += int((model(xb).argmax(-1) == yb).sum())
        if attack == "square":
            xa = square_attack(model, xb, yb, eps=eps, iterations=steps, generator=generator)
        else:
            xa = pgd_attack(
                model,
                xb,
                yb,
                eps=eps,
                norm=nm,
                steps=steps,
                step_size=step_size,
                restarts=restarts,
                generator=generator,
            )
        with torch.no_grad():
            adv += int((model(xa).argmax(-1) == yb).sum())
    n = int(x.shape[0])
    return AttackResult(
        status=Status.ESTIMATED,
        method=attack,
        seconds=time.perf_counter() - t0,
        message=(
            f"empirical: {ATTACKS[attack]} in L{nm} with "
            f"eps={float(eps):g} ({steps} {'steps' if attack == 'pgd' else 'iterations'}, "
            f"{restarts if attack == 'pgd' else 1} restart(s)); examples it does not break "
            f"are not proved robust (solver: {solver})"
        ),
        norm=nm,
        eps=float(eps),
        steps=steps,
        step_size=alpha,
        restarts=restarts if attack == "pgd" else 1,
        n=n,
        clean_accuracy=clean / n,
        adversarial_accuracy=adv / n,
        solver=solver,
    )
