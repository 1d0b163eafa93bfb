"""Robustness: Lipschitz bounds, ISS bounds from a certificate, certified radii and PGD.

1. Lipschitz constant of a small MLP: product of spectral norms vs LipSDP, beside the largest
   Jacobian norm found by sampling (a lower bound).
2. A linear system with a quadratic certificate: the ISS bound against the worst-case
   disturbance d = delta grad V / ||grad V||.
3. A LyaNet digits classifier: certified L2 radii (sampled rate premise) and PGD accuracy in
   pixel space, with the same solver for clean and attacked accuracy.

    python examples/06_robustness.py          # full (about a minute)
    python examples/06_robustness.py --fast   # CI
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

import lyactrl
from lyactrl.robust import (
    attack_accuracy,
    certified_radius,
    lipschitz_bound,
    quadratic_iss,
    simulate_worst_case,
)


def lipschitz_demo() -> None:
    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Linear(2, 16),
        torch.nn.Tanh(),
        torch.nn.Linear(16, 16),
        torch.nn.ReLU(),
        torch.nn.Linear(16, 1),
    ).double()
    prod = lipschitz_bound(net)
    sdp = lipschitz_bound(net, method="lipsdp")
    x = 3 * torch.randn(4000, 2, dtype=torch.float64)
    J = torch.func.vmap(torch.func.jacrev(net))(x)
    seen = float(torch.linalg.matrix_norm(J, 2).max().detach())
    print("1. Lipschitz constant of a 2-16-16-1 MLP")
    print(
        f"   product of spectral norms {prod.value:.4f} ({prod.status}), LipSDP "
        f"{sdp.value:.4f} ({sdp.status}, {sdp.seconds:.2f} s), largest sampled Jacobian norm "
        f"{seen:.4f}"
    )


def iss_demo() -> None:
    A = np.array([[-1.0, 2.0], [0.0, -3.0]])
    sys = lyactrl.LinearSystem(A)
    V = lyactrl.Quadratic.from_linearization(sys)
    rate = lyactrl.best_quadratic_rate(A, V.P)
    delta = 0.2
    iss = quadratic_iss(V, rate=rate, delta=delta, level=1.0)
    t = torch.linspace(0, 8, 81, dtype=torch.float64)
    x0 = torch.tensor([[1.0, 1.0]], dtype=torch.float64)
    tr = simulate_worst_case(sys, V, x0, t, delta=delta)
    v = V(tr.x[0]).numpy()
    vb = iss.value_bound(float(V(x0)[0]), t.numpy())
    print("2. ISS bound for x' = A x + d, ||d|| <= 0.2, V from A^T P + P A = -I")
    print(
        f"   rate {rate:.3f}; ISS gain {iss.iss_gain:.3f}; ultimate ||x|| <= "
        f"{iss.ultimate_radius:.4f} (worst case reaches {float(tr.x[0, -1].norm()):.4f})"
    )
    print(
        f"   bound holds at every time: {bool(np.all(v <= vb * (1 + 1e-6)))}; "
        f"{{V <= 1}} stays invariant for ||d|| <= {iss.max_disturbance:.3f}"
    )
    print(f"   status {iss.status}: {iss.message}")


def classifier_demo(fast: bool) -> None:
    from lyactrl.train.lyanet import build_classifier, load_digits, lyanet_loss

    ds = load_digits()
    torch.manual_seed(0)
    model = build_classifier((1, 8, 8), 10, seed=0, hidden=64, context_dim=32, dynamics_hidden=32)
    opt = torch.optim.Adam(model.parameters(), 1e-2)
    g = torch.Generator().manual_seed(0)
    for _ in range(4 if fast else 15):
        perm = torch.randperm(ds.x_train.shape[0], generator=g)
        for i in range(0, len(perm), 128):
            idx = perm[i : i + 128]
            loss, _ = lyanet_loss(
                model, ds.x_train[idx], ds.y_train[idx], rate=3.0, radius=5.0, generator=g
            )
            opt.zero_grad()
            loss.backward()
            opt.step()
    model.eval()
    n = 60 if fast else 360
    x, y = ds.x_test[:n], ds.y_test[:n]
    print(f"3. LyaNet on digits ({n} test images)")
    cr = certified_radius(model, x, y, norm="2")
    rad = torch.maximum(cr.radius, cr.radius_trajectory)
    print(
        f"   median L2 radius {float(rad.median()):.2e}, status {cr.status} (premise: "
        f"{cr.premise.count('sampled')} sampled, {cr.premise.count('certified')} certified)"
    )

    def logits(z: torch.Tensor) -> torch.Tensor:
        return model(z, method="rk4", steps=10)

    for norm, eps in (("inf", 0.1), ("2", 1.0)):
        r = attack_accuracy(
            logits,
            x,
            y,
            eps=eps,
            norm=norm,
            steps=10 if fast else 40,
            generator=g,
            solver="rk4, 10 steps",
        )
        print(f"   {r}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fast", action="store_true", help="small settings for CI")
    args = ap.parse_args()
    torch.set_num_threads(1)
    lipschitz_demo()
    iss_demo()
    classifier_demo(args.fast)


if __name__ == "__main__":
    main()
