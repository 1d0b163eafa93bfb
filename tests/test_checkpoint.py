"""Checkpoints: round trip, atomic writes, corruption detection, no code execution."""

from __future__ import annotations

import json
import os
import pickle

import numpy as np
import pytest
import torch

from lyactrl import CheckpointError
from lyactrl._errors import InvalidArgumentError
from lyactrl.train import checkpoint as _checkpoint
from lyactrl.train import load_checkpoint, save_checkpoint
from lyactrl.train.checkpoint import write_json


def _state() -> dict:
    net = torch.nn.Linear(3, 2)
    opt = torch.optim.Adam(net.parameters())
    net(torch.ones(1, 3)).sum().backward()
    opt.step()
    return {
        "model": net.state_dict(),
        "optimizer": opt.state_dict(),
        "gen": torch.Generator().manual_seed(3).get_state(),
        "epoch": 4,
        "nested": [1, (2.5, "a"), {"b": None}],
        "bf16": torch.ones(3, dtype=torch.bfloat16),
    }


def _equal(a, b) -> bool:
    if isinstance(a, torch.Tensor):
        return isinstance(b, torch.Tensor) and a.dtype == b.dtype and torch.equal(a, b)
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_equal(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b, strict=True))
    return a == b


def test_round_trip_is_exact(tmp_path):
    state = _state()
    path = save_checkpoint(tmp_path / "c.pt", state, metadata={"lr": 0.1, "name": "x"})
    ck = load_checkpoint(path)
    assert _equal(state, ck.state)
    assert ck.metadata == {"lr": 0.1, "name": "x"}
    assert ck.path == path
    # no temporary files are left behind
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.pt"]


def test_previous_checkpoint_is_kept(tmp_path):
    p = tmp_path / "last.pt"
    save_checkpoint(p, {"v": torch.tensor([1.0])})
    save_checkpoint(p, {"v": torch.tensor([2.0])})
    assert load_checkpoint(p).state["v"].item() == 2.0
    assert load_checkpoint(tmp_path / "last.pt.prev").state["v"].item() == 1.0


@pytest.mark.parametrize("damage", ["truncate", "flip", "empty", "garbage"])
def test_damaged_checkpoint_raises_and_previous_survives(tmp_path, damage):
    p = tmp_path / "last.pt"
    save_checkpoint(p, {"w": torch.arange(2000, dtype=torch.float64)}, metadata={"epoch": 1})
    save_checkpoint(p, {"w": torch.arange(2000, dtype=torch.float64) * 2}, metadata={"epoch": 2})
    raw = p.read_bytes()
    if damage == "truncate":
        p.write_bytes(raw[: len(raw) // 2])
    elif damage == "flip":
        # flip one byte inside the tensor data (in the middle of the file)
        b = bytearray(raw)
        i = raw.index(np.arange(2000, dtype=np.float64)[700:702].__mul__(2).tobytes())
        b[i + 3] ^= 0xFF
        p.write_bytes(bytes(b))
    elif damage == "empty":
        p.write_bytes(b"")
    else:
        p.write_bytes(b"not a checkpoint at all" * 10)
    with pytest.raises(CheckpointError, match="last.pt") as info:
        load_checkpoint(p)
    assert isinstance(info.value, ValueError)
    assert "previous checkpoint" in str(info.value)
    prev = load_checkpoint(tmp_path / "last.pt.prev")
    assert prev.metadata == {"epoch": 1}
    assert torch.equal(prev.state["w"], torch.arange(2000, dtype=torch.float64))


def test_failed_write_leaves_previous_file_intact(tmp_path, monkeypatch):
    p = tmp_path / "c.pt"
    save_checkpoint(p, {"v": torch.tensor([1.0])})

    def exploding_save(obj, fh):
        fh.write(b"partial bytes")
        raise OSError("disk full")

    monkeypatch.setattr(_checkpoint.torch, "save", exploding_save)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(p, {"v": torch.tensor([2.0])})
    monkeypatch.undo()
    assert load_checkpoint(p).state["v"].item() == 1.0
    assert sorted(x.name for x in tmp_path.iterdir()) == ["c.pt"]


class _Evil:
    def __reduce__(self):
        return (os.system, ("touch " + _Evil.target,))


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
def test_loading_never_executes_code(tmp_path):
    marker = tmp_path / "pwned"
    _Evil.target = str(marker)
    p = tmp_path / "evil.pt"
    payload = {
        "format": _checkpoint.FORMAT,
        "version": 1,
        "metadata_json": "{}",
        "digest": "0",
        "state": {"x": _Evil()},
    }
    torch.save(payload, p)
    with pytest.raises(CheckpointError, match="weights_only"):
        load_checkpoint(p)
    assert not marker.exists()
    # a plain pickle file is refused too
    q = tmp_path / "evil.pkl"
    q.write_bytes(pickle.dumps(_Evil()))
    with pytest.raises(CheckpointError):
        load_checkpoint(q)
    assert not marker.exists()


def test_foreign_torch_file_is_rejected(tmp_path):
    p = tmp_path / "plain.pt"
    torch.save({"weight": torch.ones(2)}, p)
    with pytest.raises(CheckpointError, match="not a lyactrl-checkpoint"):
        load_checkpoint(p)


def test_missing_file(tmp_path):
    with pytest.raises(CheckpointError, match="existing checkpoint"):
        load_checkpoint(tmp_path / "nope.pt")


def test_unsupported_state_is_rejected_at_save(tmp_path):
    with pytest.raises(InvalidArgumentError, match="numpy arrays to tensors"):
        save_checkpoint(tmp_path / "a.pt", {"a": np.ones(3)})
    with pytest.raises(InvalidArgumentError, match="metadata"):
        save_checkpoint(tmp_path / "a.pt", {}, metadata={"x": object()})
    assert not list(tmp_path.iterdir())


def test_write_json_is_atomic(tmp_path):
    p = write_json(tmp_path / "m.json", {"a": [1, 2.5], "b": "x"})
    assert json.loads(p.read_text()) == {"a": [1, 2.5], "b": "x"}
    with pytest.raises(InvalidArgumentError):
        write_json(p, {"bad": object()})
    assert json.loads(p.read_text()) == {"a": [1, 2.5], "b": "x"}
    assert sorted(x.name for x in tmp_path.iterdir()) == ["m.json"]
