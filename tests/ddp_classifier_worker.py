"""LyaNet classifier training for tests/test_distributed.py, one process or under torchrun.

Run as ``python tests/ddp_classifier_worker.py OUT`` or under
``python -m torch.distributed.run --nproc_per_node=2 --standalone tests/ddp_classifier_worker.py
OUT``. Each rank writes the training-set indices of its first epoch's batches to
``OUT/shard{rank}.json``; rank 0 writes the test accuracy to ``OUT/metrics.json``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch

from lyactrl.train import build_classifier, evaluate_classifier, train_classifier
from lyactrl.train.distributed import init_distributed, is_main_process, rank_and_world
from lyactrl.train.lyanet import load_digits
from lyactrl.train.lyanet._classifier_fit import train_batches


def main(out: str) -> None:
    torch.set_num_threads(1)
    init_distributed()
    rank, world = rank_and_world()
    path = Path(out)
    path.mkdir(parents=True, exist_ok=True)
    data = load_digits()
    n = data.x_train.shape[0]
    index = torch.arange(n, dtype=torch.float32).unsqueeze(1)
    batches = train_batches(index, data.y_train, 64, 0)
    sampler = getattr(batches, "sampler", None)
    if hasattr(sampler, "set_epoch"):
        sampler.set_epoch(0)
    shard = [[int(i) for i in xb[:, 0]] for xb, _ in batches]
    (path / f"shard{rank}.json").write_text(json.dumps({"world": world, "batches": shard}))
    model = build_classifier(data.input_shape, 10, seed=0)
    train_classifier(model, data, method="lyanet", epochs=8, batch_size=64, lr=1e-2, seed=0)
    if is_main_process():
        ev = evaluate_classifier(model, data.x_test, data.y_test, steps=(10,))
        (path / "metrics.json").write_text(json.dumps({"accuracy": ev["accuracy_rk4"]["10"]}))


if __name__ == "__main__":
    main(sys.argv[1])
