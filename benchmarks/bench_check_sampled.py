"""Throughput of ``check_sampled`` for a 2-64-64-2 tanh MLP system, beside a bare forward pass.

Run: ``python benchmarks/bench_check_sampled.py`` (prints a markdown table).
"""

from __future__ import annotations

import argparse

import torch
from _common import machine, median_time

import lyactrl


def mlp(dtype: torch.dtype) -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Linear(2, 64),
        torch.nn.Tanh(),
        torch.nn.Linear(64, 64),
        torch.nn.Tanh(),
        torch.nn.Linear(64, 2),
    ).to(dtype)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=2**20, help="states per check")
    ap.add_argument("--batch", type=int, default=2**16)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    box = lyactrl.Box([-1.0, -1.0], [1.0, 1.0])
    rows = []
    for dtype in (torch.float32, torch.float64):
        net = mlp(dtype)
        system = lyactrl.NeuralSystem(net, 2)
        x = box.sample(args.n, dtype=dtype)

        def bare(net=net, x=x) -> None:
            with torch.no_grad():
                for i in range(0, args.n, args.batch):
                    net(x[i : i + args.batch])

        t_bare = median_time(bare, repeats=args.repeats)
        for name, V in (
            ("Quadratic (closed-form gradient)", lyactrl.Quadratic([[1.5, -0.5], [-0.5, 1.0]])),
            (
                "NeuralLyapunov 2-64-64 (autograd)",
                lyactrl.NeuralLyapunov(
                    2, hidden=(64, 64), dtype=dtype, generator=torch.Generator().manual_seed(0)
                ),
            ),
        ):
            cond = lyactrl.ExponentialStability(system, V, 0.1)
            gen = torch.Generator().manual_seed(0)

            def check(cond=cond, gen=gen, dtype=dtype) -> None:
                lyactrl.check_sampled(
                    cond, box, n_samples=args.n, batch_size=args.batch, generator=gen, dtype=dtype
                )

            t = median_time(check, repeats=args.repeats)
            rows.append(
                (
                    str(dtype).replace("torch.", ""),
                    name,
                    args.n / t / 1e6,
                    args.n / t_bare / 1e6,
                    t / t_bare,
                )
            )
    print(f"Machine: {machine()}")
    print(f"{args.n} states per run, batch {args.batch}, median of {args.repeats} runs\n")
    print("| dtype | V | check_sampled (M states/s) | bare forward (M states/s) | ratio |")
    print("|---|---|---|---|---|")
    for r in rows:
        print(f"| {r[0]} | {r[1]} | {r[2]:.2f} | {r[3]:.2f} | {r[4]:.2f}x |")


if __name__ == "__main__":
    main()
