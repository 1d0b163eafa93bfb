"""``lyactrl demo``: the embedded end-to-end example.

Reversed Van der Pol (mu = 1), ``x1' = -x2, x2' = x1 - mu (1 - x1^2) x2``: its origin is
stable, its region of attraction is bounded by an unstable limit cycle. The demo builds the
system from sympy, takes a quadratic ``V`` from the linearisation, checks the decrease condition
on samples of a small box (it holds, with a probability bound) and falsifies it on the full
domain ``[-2.5, 2.5] x [-3.5, 3.5]`` (where no quadratic ``V`` can work). It then certifies
the largest sublevel set of ``V`` inside the domain by branch and bound (a proof, equilibrium
included) with the explicit decay bound ``||x(t)|| <= c exp(-alpha t) ||x(0)||``, and trains a
small LyaNet classifier on scikit-learn's digits with the sampled Lyapunov loss only.
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

import torch

from .._api import checked_kwargs
from ._report import Report

__all__ = ["add_parser", "run", "run_demo", "reversed_van_der_pol"]


def reversed_van_der_pol(mu: float = 1.0) -> Any:
    """The reversed Van der Pol oscillator as a :class:`~lyactrl.SymbolicSystem`.

    Examples
    --------
    >>> from lyactrl.cli._demo import reversed_van_der_pol
    >>> reversed_van_der_pol().n_states
    2
    """
    from ..systems import SymbolicSystem

    return SymbolicSystem(["-x2", "x1 - mu*(1 - x1**2)*x2"], "x1, x2", parameters={"mu": float(mu)})


@checked_kwargs
def run_demo(
    *, seed: int = 0, n_samples: int = 200_000, lyanet: bool = True, progress: bool | None = False
) -> Report:
    """Run the demo and return its report.

    Parameters
    ----------
    seed : int
        Seeds every random choice.
    n_samples : int
        States for the sampled check.
    lyanet : bool
        Include the LyaNet classifier on digits (about 10-30 s on 2 cores).
    progress : bool or None
        Progress bars on standard error (``None``: when it is a terminal).

    Examples
    --------
    >>> from lyactrl.cli._demo import run_demo
    >>> report = run_demo(n_samples=20_000, lyanet=False)
    >>> report.to_dict()["Sampled check on a small box"]["status"]
    'holds_on_samples'
    >>> report.to_dict()["Certified region of attraction"]["status"]
    'certified'
    """
    t0 = time.perf_counter()
    gen = torch.Generator().manual_seed(seed)
    report = Report()
    system, V, rate = _system_section(report)
    domain = _check_sections(report, system, V, rate, n_samples=n_samples, generator=gen)
    _roa_section(report, system, V, domain, rate, progress)
    if lyanet:
        _lyanet_section(report, seed, progress)
    report.add("Total", seconds=time.perf_counter() - t0)
    return report


def _system_section(report: Report) -> tuple[Any, Any, float]:
    """The system, its quadratic ``V`` from the linearisation and the rate to check."""
    from .. import Quadratic, best_quadratic_rate, linearize
    from ..verify import default_rate

    system = reversed_van_der_pol()
    A = linearize(system)
    V = Quadratic.from_linearization(system)
    best = best_quadratic_rate(A, V.P)
    rate = default_rate(system, V)  # the one default policy: half the local limit
    report.add(
        "System",
        name="reversed Van der Pol, mu = 1",
        equations=[str(e) for e in system.exprs],
        linearisation=A,
        V="x^T P x with A^T P + P A = -I",
        P=V.P,
        best_linear_rate=best,
        rate=rate,
    )
    return system, V, rate


def _check_sections(
    report: Report, system: Any, V: Any, rate: float, *, n_samples: int, generator: Any
) -> Any:
    """Sampled check on a small box (holds) and falsification on the full domain (fails)."""
    from .. import Box, ExponentialStability, check_sampled, falsify

    cond = ExponentialStability(system, V, rate)
    small = Box([-0.5, -0.5], [0.5, 0.5])
    sampled = check_sampled(cond, small, n_samples=n_samples, generator=generator)
    report.add(
        "Sampled check on a small box",
        region=repr(small),
        status=sampled.status,
        violations=f"{sampled.n_violations} / {sampled.n_samples}",
        worst_residual=sampled.worst_residual,
        violation_probability_bound=sampled.violation_probability_bound,
        statement=sampled.message,
    )
    domain = Box([-2.5, -3.5], [2.5, 3.5])
    found = falsify(cond, domain, generator=generator)
    report.add(
        "Falsification on the full domain",
        region=repr(domain),
        status=found.status,
        counterexamples=found.counterexamples[:3],
        residuals=found.counterexample_residuals[:3],
        seconds=found.seconds,
    )
    return domain


def _roa_section(
    report: Report, system: Any, V: Any, domain: Any, rate: float, progress: bool | None
) -> None:
    """The certified sublevel set of ``V`` in the domain, with its decay bound."""
    from .. import region_of_attraction

    roa = region_of_attraction(system, V, domain, rate=rate, progress=progress)
    decay = roa.decay_bound
    report.add(
        "Certified region of attraction",
        status=roa.status,
        region=f"{{x in {domain!r} : V(x) <= {roa.level:.6g}}}",
        rate=roa.rate,
        decay_bound=str(decay) if decay is not None else "not computed",
        c=decay.c if decay is not None else None,
        alpha=decay.alpha if decay is not None else None,
        floating_point_margin=roa.fp_margin,
        seconds=roa.seconds,
    )


def _lyanet_section(report: Report, seed: int, progress: bool | None) -> None:
    """A LyaNet classifier on digits, trained with the sampled Lyapunov loss only."""
    from ..train import run_lyanet_demo

    net = run_lyanet_demo(seed=seed, quiet=progress is False)
    report.add(
        "LyaNet on digits (sampled Lyapunov loss, no ODE solve in training)",
        test_accuracy_rk4_10_steps=net["accuracy"],
        test_accuracy_rk4_1_step=net["accuracy_rk4_1"],
        test_accuracy_rk4_2_steps=net["accuracy_rk4_2"],
        share_of_test_points_decaying_at_the_rate=net["decay_fraction"],
        rate=net["rate"],
        epochs=net["epochs"],
        seconds=net["seconds"],
    )


def add_parser(sub: Any) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "demo",
        help="run the embedded end-to-end example (reversed Van der Pol)",
        description="Reversed Van der Pol (mu = 1): a quadratic V from the linearisation, a "
        "sampled check on a small box, falsification on the full domain, a certified region "
        "of attraction with its decay bound; then a LyaNet classifier on digits.",
    )
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("--no-lyanet", action="store_true", help="skip the LyaNet classifier part")
    return p


def run(args: argparse.Namespace) -> int:
    report = run_demo(
        seed=args.seed, lyanet=not args.no_lyanet, progress=False if args.json else None
    )
    if args.json:
        print(json.dumps(report.to_dict(), indent=2))
    else:
        print(report.text())
    return 0
