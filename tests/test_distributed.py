"""DistributedDataParallel under torchrun (2 CPU processes, gloo) matches one process."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from lyactrl._errors import InvalidValueError
from lyactrl.train import load_checkpoint
from lyactrl.train.distributed import init_distributed, rank_and_world, shard_slice

WORKER = Path(__file__).with_name("ddp_worker.py")
CLASSIFIER_WORKER = Path(__file__).with_name("ddp_classifier_worker.py")
TORCHRUN = ["-m", "torch.distributed.run", "--nproc_per_node=2", "--standalone"]


def _run(args: list[str], out: Path, worker: Path = WORKER) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(WORKER.parent.parent)}
    proc = subprocess.run(
        [sys.executable, *args, str(worker), str(out)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]


@pytest.mark.slow
@pytest.mark.skipif(not torch.distributed.is_available(), reason="torch.distributed missing")
def test_ddp_two_processes_match_a_single_process(tmp_path):
    single, multi = tmp_path / "single", tmp_path / "multi"
    _run([], single)
    _run(TORCHRUN, multi)
    a, b = load_checkpoint(single / "final.pt"), load_checkpoint(multi / "final.pt")
    assert a.metadata["world"] == 1 and not a.metadata["distributed"]
    assert b.metadata["world"] == 2 and b.metadata["distributed"]
    for key, wa in a.state["model"].items():
        wb = b.state["model"][key]
        torch.testing.assert_close(wb, wa, rtol=1e-9, atol=1e-10)
    assert any(float(w.abs().sum()) > 0 for w in a.state["model"].values())
    # the logged diagnostics are global: the same numbers as the single process
    for ha, hb in zip(a.metadata["history"], b.metadata["history"], strict=True):
        assert hb["n_samples"] == ha["n_samples"] == 64
        assert hb["violation_fraction"] == pytest.approx(ha["violation_fraction"], abs=1e-12)
        assert hb["condition_loss"] == pytest.approx(ha["condition_loss"], rel=1e-9, abs=1e-12)
        assert hb["val_loss"] == pytest.approx(ha["val_loss"], rel=1e-9)
        assert hb["loss"] == pytest.approx(ha["loss"], rel=1e-9)
    # each rank evaluated only its contiguous shard; together they are the single-process set
    whole = load_checkpoint(single / "draw0.pt").state["x"]
    parts = [load_checkpoint(multi / f"draw{r}.pt").state["x"] for r in range(2)]
    assert whole.shape == (64, 2) and [p.shape[0] for p in parts] == [32, 32]
    assert torch.equal(torch.cat(parts), whole)
    # only rank 0 wrote the checkpoint, and it loads
    assert load_checkpoint(multi / "ckpt" / "last.pt").metadata["epoch"] == 3


@pytest.mark.slow
@pytest.mark.skipif(not torch.distributed.is_available(), reason="torch.distributed missing")
def test_train_classifier_under_torchrun_shards_the_data_and_matches_one_process(tmp_path):
    """Two ranks each train on half of every epoch (DistributedSampler: disjoint shards of 32
    images per batch that together cover the training set) and reach the single process's
    test accuracy within noise (8 LyaNet epochs on digits, 360 test images)."""
    import json

    single, multi = tmp_path / "single", tmp_path / "multi"
    _run([], single, CLASSIFIER_WORKER)
    _run(TORCHRUN, multi, CLASSIFIER_WORKER)
    one = json.loads((single / "shard0.json").read_text())
    assert one["world"] == 1 and max(len(b) for b in one["batches"]) == 64
    seen = [json.loads((multi / f"shard{r}.json").read_text()) for r in range(2)]
    assert all(s["world"] == 2 and max(len(b) for b in s["batches"]) == 32 for s in seen)
    parts = [{i for b in s["batches"] for i in b} for s in seen]
    n = sum(len(b) for b in one["batches"])  # 1437 training images
    assert parts[0] | parts[1] == set(range(n))
    assert len(parts[0] & parts[1]) <= 1  # DistributedSampler pads an odd set by one repeat
    acc_one = json.loads((single / "metrics.json").read_text())["accuracy"]
    acc_two = json.loads((multi / "metrics.json").read_text())["accuracy"]
    assert acc_one > 0.9 and acc_two > 0.9
    assert abs(acc_two - acc_one) <= 0.03


def test_shard_slice_partitions_the_global_set():
    parts = [shard_slice(12, rank=r, world=3) for r in range(3)]
    assert [list(range(12))[s] for s in parts] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10, 11]]
    with pytest.raises(InvalidValueError, match="multiple of the world size"):
        shard_slice(10, rank=0, world=3)
    with pytest.raises(InvalidValueError, match="rank"):
        shard_slice(10, rank=2, world=2)


def test_without_torchrun_nothing_is_initialised(monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    assert init_distributed() is False
    assert rank_and_world() == (0, 1)
