"""Certify a linear system three ways and compare with the closed form.

For x' = A x and V = x^T P x with A^T P + P A = -Q, the best rate kappa with V' <= -kappa V is
the smallest generalised eigenvalue of (Q, P). lyactrl finds it by an LMI (cvxpy), proves it by
branch and bound (sound, floating-point margin included) and refutes any rate above it.

Run: ``python examples/01_certify_linear.py`` (``--fast`` for CI).
"""

from __future__ import annotations

import argparse

import numpy as np

import lyactrl


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--fast", action="store_true")
    ap.parse_args()

    A = np.array([[-1.0, 2.0, 0.0], [0.0, -3.0, 1.0], [0.5, 0.0, -2.0]])
    system = lyactrl.LinearSystem(A)
    V = lyactrl.Quadratic.from_linearization(system)  # Q = I
    closed_form = lyactrl.best_quadratic_rate(A, V.P)
    print(f"closed form: best rate {closed_form:.6f}")

    lmi = lyactrl.lmi_rate(A, P=V.P)
    print(f"LMI (cvxpy):  best rate {lmi.rate:.6f} [{lmi.status}]")

    region = lyactrl.Box(-np.ones(3), np.ones(3))
    for factor in (0.95, 1.05):
        cond = lyactrl.ExponentialStability(system, V, factor * closed_form)
        cert = lyactrl.certify(cond, region)
        print(f"rate {factor:.2f} x best: {cert.status} in {cert.seconds:.3f} s")
        if cert.status == "certified" and cert.decay_bound is not None:
            d = cert.decay_bound
            print(
                f"  ||x(t)|| <= {d.c:.3f} exp(-{d.alpha:.4f} t) ||x(0)|| while x(t) stays in the box"
            )
        if cert.status == "falsified":
            x = cert.counterexamples[:1]
            print(
                f"  counterexample {np.round(x.numpy(), 4).tolist()}, "
                f"residual {float(cond.residual(x)[0]):.3g} > 0"
            )


if __name__ == "__main__":
    main()
