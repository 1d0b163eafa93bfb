"""Data loaders: generated idx files and CIFAR batches, the embedded digits, bad inputs."""

from __future__ import annotations

import gzip
import os
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest
import torch

import lyactrl
from lyactrl.train.lyanet import (
    DataError,
    load_cifar10,
    load_dataset,
    load_digits,
    load_mnist,
    read_idx,
)

MNIST_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "mnist"


def _idx(path: Path, arr: np.ndarray, *, gz: bool) -> None:
    header = struct.pack(">BBBB", 0, 0, 0x08, arr.ndim) + struct.pack(f">{arr.ndim}I", *arr.shape)
    raw = header + arr.astype(np.uint8).tobytes()
    if gz:
        path = path.with_name(path.name + ".gz")
        path.write_bytes(gzip.compress(raw))
    else:
        path.write_bytes(raw)


def _fake_mnist(d: Path, n_train: int = 20, n_test: int = 6, *, gz: bool = True) -> dict:
    rng = np.random.default_rng(0)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (n_train, 28, 28)),
        "train-labels-idx1-ubyte": np.arange(n_train) % 10,
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, 28, 28)),
        "t10k-labels-idx1-ubyte": np.arange(n_test) % 10,
    }
    for name, arr in arrays.items():
        _idx(d / name, arr, gz=gz)
    return arrays


@pytest.mark.parametrize("gz", [True, False])
def test_mnist_from_generated_idx_files(tmp_path, gz):
    arrays = _fake_mnist(tmp_path, gz=gz)
    data = load_mnist(tmp_path, val_fraction=0.1)
    assert data.x_train.shape == (18, 1, 28, 28) and data.x_val.shape == (2, 1, 28, 28)
    assert data.x_test.shape == (6, 1, 28, 28) and data.x_train.dtype == torch.float32
    assert data.n_classes == 10 and data.input_shape == (1, 28, 28)
    # the test split keeps the file's order; pixels are scaled to [0, 1]
    expect = torch.from_numpy(arrays["t10k-images-idx3-ubyte"].astype(np.float32) / 255.0)
    assert torch.equal(data.x_test[:, 0], expect)
    assert data.y_test.tolist() == list(range(6))
    # train + validation are a permutation of the training file
    got = sorted(torch.cat([data.y_train, data.y_val]).tolist())
    assert got == sorted(arrays["train-labels-idx1-ubyte"].tolist())
    again = load_mnist(tmp_path, val_fraction=0.1)
    assert torch.equal(again.y_val, data.y_val)  # fixed seed


def test_read_idx_rejects_bad_files(tmp_path):
    bad = tmp_path / "bad-idx1-ubyte"
    bad.write_bytes(b"\x01\x02\x03\x04rest")
    with pytest.raises(DataError, match="not an idx file"):
        read_idx(bad)
    short = tmp_path / "short-idx1-ubyte"
    short.write_bytes(struct.pack(">BBBBI", 0, 0, 8, 1, 10) + bytes(3))
    with pytest.raises(DataError, match="declares shape"):
        read_idx(short)
    with pytest.raises(DataError, match="no such idx file"):
        read_idx(tmp_path / "missing")
    arr = np.arange(6, dtype=np.uint8).reshape(2, 3)
    _idx(tmp_path / "ok-idx2-ubyte", arr, gz=False)
    assert read_idx(tmp_path / "ok-idx2-ubyte").tolist() == arr.tolist()


def test_mnist_missing_directory_and_files(tmp_path):
    with pytest.raises(DataError, match="expected a directory"):
        load_mnist(tmp_path / "nope")
    with pytest.raises(DataError, match="train-images-idx3-ubyte"):
        load_mnist(tmp_path)
    with pytest.raises(lyactrl.LyactrlError, match="not embedded"):
        load_dataset("mnist")
    with pytest.raises(ValueError, match="expected one of"):
        load_dataset("imagenet")


def _cifar_batch(path: Path, n: int, seed: int, protocol: int) -> tuple[np.ndarray, list]:
    rng = np.random.default_rng(seed)
    data = rng.integers(0, 256, (n, 3072)).astype(np.uint8)
    labels = [int(v) for v in rng.integers(0, 10, n)]
    with open(path, "wb") as fh:
        pickle.dump({b"data": data, b"labels": labels, b"batch_label": b"x"}, fh, protocol=protocol)
    return data, labels


@pytest.mark.parametrize("protocol", [2, pickle.HIGHEST_PROTOCOL])
def test_cifar_from_generated_batches(tmp_path, protocol):
    d = tmp_path / "cifar-10-batches-py"
    d.mkdir()
    tr, trl = _cifar_batch(d / "data_batch_1", 5, 0, protocol)
    _cifar_batch(d / "data_batch_2", 3, 1, protocol)
    te, tel = _cifar_batch(d / "test_batch", 4, 2, protocol)
    data = load_cifar10(tmp_path)
    assert data.x_train.shape == (8, 3, 32, 32) and data.x_test.shape == (4, 3, 32, 32)
    assert data.y_test.tolist() == tel
    expect = torch.from_numpy(te.reshape(4, 3, 32, 32).astype(np.float32) / 255.0)
    assert torch.equal(data.x_test, expect)


class _Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned > /dev/null",))


def test_cifar_refuses_pickles_that_run_code(tmp_path):
    d = tmp_path
    (d / "data_batch_1").write_bytes(pickle.dumps({b"data": _Evil(), b"labels": [0]}))
    _cifar_batch(d / "test_batch", 2, 0, 2)
    with pytest.raises(DataError, match="refusing to unpickle"):
        load_cifar10(d)
    (d / "data_batch_1").write_bytes(pickle.dumps({b"data": np.zeros((2, 5)), b"labels": [0, 1]}))
    with pytest.raises(DataError, match="3072"):
        load_cifar10(d)
    with pytest.raises(DataError, match="test_batch"):
        load_cifar10(_empty(tmp_path))


def _empty(tmp_path: Path) -> Path:
    e = tmp_path / "empty"
    e.mkdir(exist_ok=True)
    return e


def test_digits_split_is_fixed_and_scaled():
    a, b = load_digits(), load_digits()
    assert a.x_train.shape == (1437, 1, 8, 8) and a.x_test.shape == (360, 1, 8, 8)
    assert torch.equal(a.y_test, b.y_test)
    assert float(a.x_train.min()) == 0.0 and float(a.x_train.max()) == 1.0
    c = load_digits(seed=1)
    assert not torch.equal(a.y_test, c.y_test)
    with pytest.raises(ValueError, match="test_fraction"):
        load_digits(test_fraction=1.5)


@pytest.mark.slow
@pytest.mark.skipif(not MNIST_DIR.is_dir(), reason="real MNIST not available")
def test_real_mnist():
    data = load_dataset("mnist", data_dir=MNIST_DIR)
    assert data.summary()["n_train"] == 54000 and data.summary()["n_test"] == 10000
    assert set(data.y_test.tolist()) == set(range(10))
