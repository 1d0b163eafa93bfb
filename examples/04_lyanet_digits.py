"""LyaNet on the embedded digits: train without solving an ODE, then check the flow.

The classifier's logits eta follow eta' = f(eta, encoder(x)) from eta(0) = 0. LyaNet trains f
so that the cross-entropy potential V_y(eta) decays at least like exp(-rate t) at sampled
states (a hinge on grad V . f + rate V), with no ODE solve and no backpropagation through a
solver. The same model trained through 10 RK4 steps (the Neural ODE baseline) is shown for
comparison. Afterwards one test image is handed to lyactrl as an ordinary system and checked.

    python examples/04_lyanet_digits.py          # 60 epochs each (about a minute on 2 cores)
    python examples/04_lyanet_digits.py --fast   # 3 epochs each, for CI
"""

from __future__ import annotations

import argparse
import time

import torch

import lyactrl
from lyactrl.train import build_classifier, evaluate_classifier, train_classifier
from lyactrl.train.lyanet import load_digits


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fast", action="store_true", help="3 epochs, for CI")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    epochs = 3 if args.fast else 60
    rate = 2.0

    data = load_digits()  # 1437 train / 360 test, pixels in [0, 1]
    mean, std = [float(data.x_train.mean())], [float(data.x_train.std())]
    models = {}
    for method in ("lyanet", "node"):
        # identical architecture and initialisation for both training rules
        model = build_classifier(data.input_shape, 10, mean=mean, std=std, seed=args.seed)
        t0 = time.perf_counter()
        res = train_classifier(model, data, method=method, epochs=epochs, rate=rate, seed=args.seed)
        seconds = time.perf_counter() - t0
        ev = evaluate_classifier(model, data.x_test, data.y_test, steps=(1, 2, 10), rate=rate)
        per_epoch = sorted(h["epoch_seconds"] for h in res.history)[len(res.history) // 2]
        print(
            f"{method:6s}: {per_epoch:.3f} s/epoch ({seconds:.1f} s in all); test accuracy "
            f"RK4 1/2/10 steps: {ev['accuracy_rk4']['1']:.3f} / {ev['accuracy_rk4']['2']:.3f} / "
            f"{ev['accuracy_rk4']['10']:.3f}; dopri5 {ev['accuracy_dopri5']:.3f} "
            f"({ev['nfe_dopri5']:.0f} evaluations)"
        )
        print(
            f"        sampled violation rate {ev['violation_rate']:.4f}; V decays at rate "
            f"{rate:g} along the trajectory for {100 * ev['decay_fraction']:.1f} % of test images"
        )
        models[method] = model

    # One test image as an ordinary lyactrl system: eta' = f(eta, context(x)).
    model = models["lyanet"]
    x, y = data.x_test[:1], int(data.y_test[0])
    system = model.system_for(x)
    V = model.potential_for(y)
    cond = lyactrl.ExponentialStability(system, V, rate=rate)
    region = lyactrl.Ball([0.0] * 10, 10.0)
    check = lyactrl.check_sampled(
        cond, region, n_samples=20_000, generator=torch.Generator().manual_seed(0)
    )
    print(f"test image 0 (label {y}): {check}")
    traj = lyactrl.simulate(
        system,
        torch.zeros(10, dtype=torch.float64),
        torch.linspace(0.0, model.horizon, 5, dtype=torch.float64),
    )
    values = V(traj.x).tolist()
    print(
        "V(eta(t)) at t = 0, T/4, ..., T: "
        + ", ".join(f"{v:.3g}" for v in values)
        + f"; predicted class {int(traj.final.argmax())}"
    )


if __name__ == "__main__":
    main()
