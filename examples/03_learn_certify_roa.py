"""Learn and certify a region of attraction: reversed Van der Pol with a neural V.

``fit_lyapunov`` trains a positive-definite neural V on states labelled by simulation (LyaNet's
sampled hinge losses, no ODE solve in training), then ``region_of_attraction`` proves the
largest sublevel set {V <= level} on which V decays exponentially — the equilibrium's
neighbourhood included. The volume ratio compares that set with the simulated region of
attraction on the same grid (LyZNet, HSCC 2024, reports 94.78 % with dReal in 973 s).

Run: ``python examples/03_learn_certify_roa.py`` (``--fast`` trains briefly, for CI).
"""

from __future__ import annotations

import argparse

import lyactrl


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--fast", action="store_true")
    ap.add_argument("--plot", metavar="PATH", help="save a phase portrait (PNG and SVG)")
    args = ap.parse_args()

    vdp = lyactrl.SymbolicSystem(["-x2", "x1 - (1 - x1**2)*x2"], "x1, x2")
    domain = lyactrl.Box([-2.5, -3.5], [2.5, 3.5])

    # a quadratic V from the linearisation, certified the same way, as the baseline
    quad = lyactrl.Quadratic.from_linearization(vdp)
    simulated = lyactrl.simulated_region_of_attraction(vdp, domain, grid=100 if args.fast else 200)
    q_roa = lyactrl.region_of_attraction(vdp, quad, domain, rate=0.01)
    q_ratio = lyactrl.volume_ratio(q_roa.region, simulated)
    print(f"quadratic V: {q_roa.status}, level {q_roa.level:.4f}, volume ratio {q_ratio:.1%}")

    fit = lyactrl.fit_lyapunov(
        vdp,
        domain,
        steps=400 if args.fast else 4000,
        rounds=1 if args.fast else 2,
        simulated=simulated,
    )
    print(
        f"neural V:    {fit.status}, level {fit.level:.4f}, volume ratio {fit.volume_ratio:.1%} "
        f"(learning {fit.train_seconds:.0f} s, certification {fit.certify_seconds:.0f} s)"
    )
    d = fit.certificate.decay_bound
    if d is not None:
        print(f"on the certified set: ||x(t)|| <= {d.c:.3f} exp(-{d.alpha:.4f} t) ||x(0)||")
    if args.plot:
        from lyactrl.plot import phase_portrait, save_figure

        fig = phase_portrait(vdp, domain, V=fit.V, certified_level=fit.level)
        save_figure(fig, args.plot)
        print(f"phase portrait written to {args.plot}.png and .svg")


if __name__ == "__main__":
    main()
