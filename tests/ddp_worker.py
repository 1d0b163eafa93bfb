"""Tiny training run for tests/test_distributed.py.

Run as ``python tests/ddp_worker.py OUT`` (one process) or under
``python -m torch.distributed.run --nproc_per_node=2 --standalone tests/ddp_worker.py OUT``.
Both train the same model on the same global samples and data; rank 0 writes the final
weights to ``OUT/final.pt`` and the fit history to ``OUT/metrics.json``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch
from torch import nn

import lyactrl
from lyactrl.train import BoxSampler, TrainingAdapter, fit, save_checkpoint
from lyactrl.train.distributed import (
    init_distributed,
    is_main_process,
    rank_and_world,
    shard_slice,
)


def main(out: str) -> None:
    torch.set_num_threads(1)
    distributed = init_distributed()
    rank, world = rank_and_world()
    torch.manual_seed(0)
    f = nn.Sequential(nn.Linear(2, 16), nn.Tanh(), nn.Linear(16, 2)).double()
    V = lyactrl.NeuralLyapunov(2, hidden=(8,), generator=torch.Generator().manual_seed(1))
    # global data, identical on every rank; each rank keeps its contiguous shard
    g = torch.Generator().manual_seed(2)
    batches = []
    for _ in range(4):
        x = torch.randn(32, 2, dtype=torch.float64, generator=g)
        y = torch.stack([x[:, 1], -x[:, 0] - 0.3 * x[:, 1]], dim=1)
        sl = shard_slice(32, rank=rank, world=world)
        batches.append((x[sl], y[sl]))

    def task(batch):
        x, y = batch
        return ((f(x) - y) ** 2).mean()

    adapter = TrainingAdapter.for_dynamics(
        f,
        2,
        V,
        rate=0.5,
        sampler=BoxSampler([-1.0, -1.0], [1.0, 1.0]),
        n_samples=64,
        task_loss=task,
        squared=True,  # with weights: exercises the global weighted-mean scaling
        weights=lambda x: 1.0 + x.norm(dim=1),
    )
    val_x, val_y = batches[0]  # this rank's shard; fit averages the metric over ranks
    opt = torch.optim.SGD(adapter.model.parameters(), lr=0.05, momentum=0.9)
    res = fit(
        adapter,
        opt,
        epochs=3,
        train_data=batches,
        seed=7,
        quiet=True,
        checkpoint_dir=Path(out) / "ckpt",
        validate=lambda: float(((f(val_x) - val_y) ** 2).mean()),
        patience=5,
    )
    # this rank's shard of one global draw (the same generator state on every rank)
    local = adapter.condition_loss.draw(generator=torch.Generator().manual_seed(3))
    save_checkpoint(Path(out) / f"draw{rank}.pt", {"x": local}, metadata={"world": world})
    if is_main_process():
        save_checkpoint(
            Path(out) / "final.pt",
            {"model": adapter.model.state_dict()},
            metadata={"world": world, "distributed": distributed, "history": res.history},
        )
    if distributed:
        torch.distributed.destroy_process_group()


if __name__ == "__main__":
    main(sys.argv[1])
