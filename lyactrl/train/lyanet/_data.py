"""Data sets for the LyaNet classifiers: digits (embedded), MNIST, Fashion-MNIST, CIFAR-10.

Nothing is downloaded. ``digits`` is scikit-learn's 8x8 digits (shipped with scikit-learn);
MNIST and Fashion-MNIST are read from the standard idx files (optionally gzipped) in a
directory; CIFAR-10 from its python batches, parsed with a restricted unpickler that only
accepts numpy arrays, bytes, strings, numbers, lists and dicts (a pickle can otherwise run
arbitrary code). Images are float32 ``(N, C, H, W)`` with pixels in ``[0, 1]``; normalisation
belongs to the model.
"""

from __future__ import annotations

import dataclasses
import gzip
import io
import math
import os
import pickle
import struct
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..._api import checked_kwargs, choice
from ..._errors import InvalidArgumentError, LyactrlError
from ..._tensors import unit_fraction

__all__ = [
    "DATASETS",
    "Dataset",
    "DataError",
    "load_dataset",
    "load_digits",
    "load_mnist",
    "load_cifar10",
    "read_idx",
]

#: Data set names accepted by :func:`load_dataset`.
DATASETS = ("digits", "mnist", "fashion-mnist", "cifar10")


class DataError(LyactrlError, ValueError):
    """A data directory or file is missing, truncated or not in the expected format."""


@dataclasses.dataclass(frozen=True)
class Dataset:
    """Train / validation / test splits; images float32 ``(N, C, H, W)`` in ``[0, 1]``.

    The validation split may be empty (``x_val.shape[0] == 0``).
    """

    name: str
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_val: torch.Tensor
    y_val: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    n_classes: int

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Shape of one image, ``(C, H, W)``."""
        return tuple(self.x_train.shape[1:])

    def summary(self) -> dict[str, Any]:
        """Sizes of the splits, for reports."""
        return {
            "name": self.name,
            "n_train": int(self.x_train.shape[0]),
            "n_val": int(self.x_val.shape[0]),
            "n_test": int(self.x_test.shape[0]),
            "input_shape": list(self.input_shape),
            "n_classes": self.n_classes,
        }


def _split(
    x: torch.Tensor, y: torch.Tensor, fraction: float, seed: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Shuffle with ``seed`` and hold out ``fraction`` of the rows: ``(x_a, y_a, x_b, y_b)``."""
    g = torch.Generator().manual_seed(seed)
    perm = torch.randperm(x.shape[0], generator=g)
    n_b = math.ceil(fraction * x.shape[0] - 1e-9)
    a, b = perm[n_b:], perm[:n_b]
    return x[a], y[a], x[b], y[b]


def _make(name: str, xtr, ytr, xte, yte, val_fraction: float, seed: int) -> Dataset:  # noqa: ANN001
    xtr, ytr, xval, yval = _split(xtr, ytr, val_fraction, seed + 1)
    n_classes = int(max(int(ytr.max()), int(yte.max()) if yte.numel() else 0)) + 1
    return Dataset(name, xtr, ytr, xval, yval, xte, yte, max(n_classes, 2))


@checked_kwargs
def load_digits(*, seed: int = 0, test_fraction: float = 0.2, val_fraction: float = 0.0) -> Dataset:
    """scikit-learn's 8x8 digits (1797 images): a shuffled split with a fixed seed.

    Parameters
    ----------
    seed : int
        Seed of the split (the default split is the benchmark's).
    test_fraction : float
        Share of the images held out for testing (0.2: 1437 train / 360 test).
    val_fraction : float
        Share of the training images held out for validation.

    Examples
    --------
    >>> from lyactrl.train.lyanet import load_digits
    >>> d = load_digits()
    >>> d.x_train.shape, d.x_test.shape, float(d.x_train.max())
    (torch.Size([1437, 1, 8, 8]), torch.Size([360, 1, 8, 8]), 1.0)
    """
    from sklearn.datasets import load_digits as _sk_digits

    bunch = _sk_digits()
    x = torch.from_numpy(np.asarray(bunch.images, dtype=np.float32) / 16.0).unsqueeze(1)
    y = torch.from_numpy(np.asarray(bunch.target, dtype=np.int64))
    tf = unit_fraction(test_fraction, "test_fraction")
    xtr, ytr, xte, yte = _split(x, y, tf, seed)
    return _make("digits", xtr, ytr, xte, yte, unit_fraction(val_fraction, "val_fraction"), seed)


_IDX_TYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path: str | os.PathLike[str]) -> np.ndarray:
    """Read an idx file (the MNIST format), gzipped when the name ends in ``.gz``.

    Parameters
    ----------
    path : str or os.PathLike
        The file.

    Returns
    -------
    numpy.ndarray
        Of the shape and dtype its header declares; a malformed file raises
        :class:`DataError`.

    Examples
    --------
    >>> import struct, tempfile, os
    >>> from lyactrl.train.lyanet import read_idx
    >>> p = os.path.join(tempfile.mkdtemp(), "a-idx1-ubyte")
    >>> with open(p, "wb") as fh:
    ...     _ = fh.write(struct.pack(">BBBBI", 0, 0, 8, 1, 3) + bytes([1, 2, 3]))
    >>> read_idx(p).tolist()
    [1, 2, 3]
    """
    p = Path(path)
    try:
        raw = gzip.decompress(p.read_bytes()) if p.suffix == ".gz" else p.read_bytes()
    except FileNotFoundError as exc:
        raise DataError(f"path: no such idx file {str(p)!r}") from exc
    except (OSError, EOFError) as exc:
        raise DataError(f"path: could not read {str(p)!r} ({exc})") from exc
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_TYPES:
        raise DataError(
            f"path: {str(p)!r} is not an idx file (expected the magic 0x0000 followed by a "
            f"type byte in {sorted(_IDX_TYPES)}, received {raw[:4].hex() or 'an empty file'})"
        )
    ndim = raw[3]
    if ndim == 0 or len(raw) < 4 + 4 * ndim:
        raise DataError(f"path: {str(p)!r} has a truncated idx header")
    shape = struct.unpack(f">{ndim}I", raw[4 : 4 + 4 * ndim])
    dtype = np.dtype(_IDX_TYPES[raw[2]])
    need = int(np.prod(shape)) * dtype.itemsize
    body = raw[4 + 4 * ndim :]
    if len(body) != need:
        raise DataError(
            f"path: {str(p)!r} declares shape {shape} ({need} bytes of data) but holds "
            f"{len(body)} bytes"
        )
    return np.frombuffer(body, dtype=dtype).reshape(shape)


def _data_dir(data_dir: Any, what: str) -> Path:
    if data_dir is None:
        raise DataError(f"data_dir: {what} is not embedded; pass the directory holding its files")
    if not isinstance(data_dir, (str, os.PathLike)):
        raise InvalidArgumentError(f"data_dir: expected a path, received {type(data_dir).__name__}")
    d = Path(data_dir)
    if not d.is_dir():
        raise DataError(
            f"data_dir: expected a directory with the {what} files, received {str(d)!r}"
        )
    return d


def _find(d: Path, stem: str) -> Path:
    alt = stem.replace("-idx", ".idx")
    for name in (stem, stem + ".gz", alt, alt + ".gz"):
        if (d / name).is_file():
            return d / name
    raise DataError(f"data_dir: {str(d)!r} has no {stem} (or {stem}.gz)")


@checked_kwargs
def load_mnist(
    data_dir: str | os.PathLike[str],
    *,
    val_fraction: float = 0.1,
    seed: int = 0,
    name: str = "mnist",
) -> Dataset:
    """MNIST (or Fashion-MNIST: same files) from the idx files in ``data_dir``.

    Reads ``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``, ``t10k-images-idx3-ubyte``
    and ``t10k-labels-idx1-ubyte`` (each optionally ``.gz``); ``val_fraction`` of the training
    images is held out for validation with a fixed seed.

    Parameters
    ----------
    data_dir : str or os.PathLike
        The directory holding the four files.
    val_fraction : float
        Share of the training images held out for validation.
    seed : int
        Seed of the validation split.
    name : str
        The data set's name in the result (``"fashion_mnist"`` for Fashion-MNIST).

    Returns
    -------
    Dataset
        Images ``(N, 1, 28, 28)`` in ``[0, 1]`` and integer labels.
    """
    d = _data_dir(data_dir, name)
    arrays = {}
    for split in ("train", "t10k"):
        imgs = read_idx(_find(d, f"{split}-images-idx3-ubyte"))
        labs = read_idx(_find(d, f"{split}-labels-idx1-ubyte"))
        if imgs.ndim != 3 or labs.ndim != 1 or imgs.shape[0] != labs.shape[0]:
            raise DataError(
                f"data_dir: {split} images {imgs.shape} and labels {labs.shape} do not match "
                "(expected (N, H, W) and (N,))"
            )
        x = torch.from_numpy(imgs.astype(np.float32) / 255.0).unsqueeze(1)
        arrays[split] = (x, torch.from_numpy(labs.astype(np.int64)))
    vf = unit_fraction(val_fraction, "val_fraction")
    return _make(name, *arrays["train"], *arrays["t10k"], vf, seed)


class _RestrictedUnpickler(pickle.Unpickler):
    """Only numpy arrays and dtypes (plus plain containers) may be rebuilt."""

    _ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy._core.numeric", "_frombuffer"),
        ("numpy.core.numeric", "_frombuffer"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("_codecs", "encode"),
    }

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in self._ALLOWED:
            return super().find_class(module, name)
        raise DataError(
            f"CIFAR batch: refusing to unpickle {module}.{name} (only numpy arrays, bytes, "
            "lists and dicts are allowed)"
        )


def _load_cifar_batch(path: Path) -> tuple[torch.Tensor, torch.Tensor]:
    try:
        with open(path, "rb") as fh:
            obj = _RestrictedUnpickler(io.BytesIO(fh.read()), encoding="bytes").load()
    except DataError:
        raise
    except Exception as exc:  # noqa: BLE001 - any unpickling failure is a data error
        raise DataError(f"path: could not parse the CIFAR batch {str(path)!r} ({exc})") from exc
    if not isinstance(obj, dict):
        raise DataError(f"path: {str(path)!r} is not a CIFAR batch (expected a dict)")
    data = obj.get(b"data", obj.get("data"))
    labels = obj.get(b"labels", obj.get("labels"))
    if not isinstance(data, np.ndarray) or labels is None:
        raise DataError(f"path: {str(path)!r} lacks 'data' (array) or 'labels'")
    data = np.asarray(data, dtype=np.uint8)
    labs = np.asarray(labels, dtype=np.int64)
    if data.ndim != 2 or data.shape[1] != 3072 or data.shape[0] != labs.shape[0]:
        raise DataError(
            f"path: {str(path)!r} holds data {data.shape} and labels {labs.shape} (expected "
            "(N, 3072) and (N,))"
        )
    x = torch.from_numpy(data.reshape(-1, 3, 32, 32).astype(np.float32) / 255.0)
    return x, torch.from_numpy(labs)


@checked_kwargs
def load_cifar10(
    data_dir: str | os.PathLike[str], *, val_fraction: float = 0.0, seed: int = 0
) -> Dataset:
    """CIFAR-10 from its python batches (``data_batch_1`` ... ``data_batch_5``, ``test_batch``).

    ``data_dir`` may be the ``cifar-10-batches-py`` folder or its parent. Training batches that
    are absent are skipped (at least one is needed); the test batch is required. Batches are
    unpickled with only numpy arrays allowed.

    Parameters
    ----------
    data_dir : str or os.PathLike
        The ``cifar-10-batches-py`` folder or its parent.
    val_fraction : float
        Share of the training images held out for validation.
    seed : int
        Seed of the validation split.

    Returns
    -------
    Dataset
        Images ``(N, 3, 32, 32)`` in ``[0, 1]`` and integer labels.
    """
    d = _data_dir(data_dir, "cifar10")
    if (d / "cifar-10-batches-py").is_dir():
        d = d / "cifar-10-batches-py"
    train = [d / f"data_batch_{i}" for i in range(1, 6) if (d / f"data_batch_{i}").is_file()]
    if not train or not (d / "test_batch").is_file():
        raise DataError(
            f"data_dir: {str(d)!r} needs data_batch_1 ... data_batch_5 (at least one) and "
            "test_batch"
        )
    parts = [_load_cifar_batch(p) for p in train]
    xte, yte = _load_cifar_batch(d / "test_batch")
    xtr = torch.cat([p[0] for p in parts])
    ytr = torch.cat([p[1] for p in parts])
    return _make("cifar10", xtr, ytr, xte, yte, unit_fraction(val_fraction, "val_fraction"), seed)


@checked_kwargs
def load_dataset(
    name: str, *, data_dir: str | os.PathLike[str] | None = None, seed: int = 0
) -> Dataset:
    """Load a data set by name with the benchmark's splits.

    Parameters
    ----------
    name : {"digits", "mnist", "fashion-mnist", "cifar10"}
        ``digits`` is embedded; the others are read from ``data_dir``.
    data_dir : path, optional
        Directory with the data set's files (MNIST idx files, CIFAR-10 python batches).
    seed : int
        Seed of the splits.

    Examples
    --------
    >>> from lyactrl.train.lyanet import load_dataset
    >>> load_dataset("digits").summary()["n_test"]
    360
    """
    name = choice(name, "name", DATASETS)
    if name == "digits":
        return load_digits(seed=seed)
    if name in ("mnist", "fashion-mnist"):
        return load_mnist(data_dir, seed=seed, name=name)  # type: ignore[arg-type]
    return load_cifar10(data_dir, seed=seed)  # type: ignore[arg-type]
