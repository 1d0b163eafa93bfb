"""Checkpoints that cannot run code: atomic writes, digest check, ``weights_only`` loading.

A checkpoint is one file written with :func:`torch.save` holding a state (nested dicts, lists
and tuples of tensors and plain scalars: model and optimizer state dicts, RNG states, counters),
a JSON metadata string and a SHA-256 digest of both. Loading uses ``torch.load(...,
weights_only=True)``, so a file cannot execute code, and re-computes the digest, so a truncated
or corrupted file is reported as :class:`CheckpointError` instead of being half-loaded.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import pickle
import tempfile
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from .._api import checked_kwargs
from .._errors import CheckpointError, InvalidArgumentError

__all__ = ["Checkpoint", "save_checkpoint", "load_checkpoint", "write_json", "FORMAT"]

#: The format tag stored in every checkpoint.
FORMAT = "lyactrl-checkpoint"
_VERSION = 1


@dataclasses.dataclass(frozen=True)
class Checkpoint:
    """A loaded checkpoint: the ``state`` tree, the ``metadata`` dict and the file ``path``."""

    state: dict[str, Any]
    metadata: dict[str, Any]
    path: Path


def _digest_update(h: Any, obj: Any, where: str) -> None:
    if isinstance(obj, torch.Tensor):
        t = obj.detach().cpu().contiguous()
        h.update(f"T{where}{t.dtype}{tuple(t.shape)}".encode())
        if t.numel():
            h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    elif isinstance(obj, Mapping):
        h.update(f"D{where}{len(obj)}".encode())
        for key in obj:
            h.update(repr(key).encode())
            _digest_update(h, obj[key], f"{where}/{key!r}")
    elif isinstance(obj, (list, tuple)):
        h.update(f"L{where}{type(obj).__name__}{len(obj)}".encode())
        for i, item in enumerate(obj):
            _digest_update(h, item, f"{where}[{i}]")
    elif obj is None or isinstance(obj, (bool, int, float, str, bytes, torch.dtype, torch.Size)):
        h.update(f"S{where}{type(obj).__name__}{obj!r}".encode())
    else:
        raise InvalidArgumentError(
            f"state: expected nested dicts/lists of tensors and plain scalars, received a "
            f"{type(obj).__name__} at {where or 'the top level'}; convert it (e.g. numpy arrays "
            "to tensors) so the checkpoint loads with weights_only=True"
        )


def _digest(state: Any, metadata_json: str) -> str:
    h = hashlib.sha256()
    _digest_update(h, state, "")
    h.update(metadata_json.encode())
    return h.hexdigest()


def _atomic_write(path: Path, write: Any, *, keep_previous: bool = False) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        if keep_previous and path.exists():
            prev = path.with_name(path.name + ".prev")
            link_tmp = path.with_name(f".{path.name}.prev.tmp")
            link_tmp.unlink(missing_ok=True)
            try:
                os.link(path, link_tmp)
            except OSError:  # pragma: no cover - file systems without hard links
                with open(path, "rb") as src, open(link_tmp, "wb") as dst:
                    dst.write(src.read())
            os.replace(link_tmp, prev)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@checked_kwargs
def save_checkpoint(
    path: str | os.PathLike[str],
    state: Mapping[str, Any],
    *,
    metadata: Mapping[str, Any] | None = None,
    keep_previous: bool = True,
) -> Path:
    """Write a checkpoint atomically (temporary file, ``fsync``, ``os.replace``).

    A crash while writing leaves the previous file untouched. With ``keep_previous`` the file
    being replaced is kept as ``<path>.prev``, so a checkpoint later found corrupted still has
    a predecessor.

    Parameters
    ----------
    path : path-like
        Destination file.
    state : mapping
        Nested dicts/lists/tuples of tensors and plain scalars (``model.state_dict()``,
        ``optimizer.state_dict()``, RNG states, counters).
    metadata : mapping, optional
        JSON-serialisable configuration and metadata.
    keep_previous : bool
        Keep the replaced file as ``<path>.prev``.

    Returns
    -------
    pathlib.Path
        The written file.

    Examples
    --------
    >>> import tempfile, torch
    >>> from lyactrl.train import save_checkpoint, load_checkpoint
    >>> d = tempfile.mkdtemp()
    >>> p = save_checkpoint(d + "/m.pt", {"w": torch.ones(2)}, metadata={"epoch": 3})
    >>> ck = load_checkpoint(p)
    >>> ck.state["w"].tolist(), ck.metadata["epoch"]
    ([1.0, 1.0], 3)
    """
    if not isinstance(state, Mapping):
        raise InvalidArgumentError(f"state: expected a mapping, received {type(state).__name__}")
    try:
        meta_json = json.dumps(dict(metadata or {}), sort_keys=True, allow_nan=True)
    except (TypeError, ValueError) as exc:
        raise InvalidArgumentError(
            f"metadata: expected a JSON-serialisable mapping, received one that json rejects ({exc})"
        ) from exc
    plain = dict(state)
    payload = {
        "format": FORMAT,
        "version": _VERSION,
        "metadata_json": meta_json,
        "digest": _digest(plain, meta_json),
        "state": plain,
    }
    out = Path(path)
    _atomic_write(out, lambda fh: torch.save(payload, fh), keep_previous=keep_previous)
    return out


def _fail(path: Path, what: str) -> CheckpointError:
    prev = path.with_name(path.name + ".prev")
    hint = f"; the previous checkpoint {prev} is intact and can be loaded" if prev.exists() else ""
    return CheckpointError(f"path: {path} is {what}{hint}")


@checked_kwargs
def load_checkpoint(
    path: str | os.PathLike[str], *, map_location: str | torch.device = "cpu"
) -> Checkpoint:
    """Load a checkpoint written by :func:`save_checkpoint`, never executing code.

    Parameters
    ----------
    path : path-like
        The checkpoint file.
    map_location : str or torch.device
        Where tensors are placed.

    Returns
    -------
    Checkpoint
        ``state``, ``metadata`` and ``path``.

    Raises
    ------
    CheckpointError
        When the file is missing, truncated, corrupted (digest mismatch), holds objects other
        than tensors and plain containers (``weights_only`` refuses them without running
        them), or is not a lyactrl checkpoint.

    Examples
    --------
    >>> import tempfile, torch
    >>> from lyactrl.train import save_checkpoint, load_checkpoint
    >>> p = save_checkpoint(tempfile.mkdtemp() + "/a.pt", {"step": 7})
    >>> load_checkpoint(p).state["step"]
    7
    """
    p = Path(path)
    if not p.is_file():
        raise CheckpointError(f"path: expected an existing checkpoint file, received {p}")
    try:
        payload = torch.load(p, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        raise _fail(
            p,
            "not loadable with weights_only=True: it holds objects other than tensors and "
            f"plain containers (refused without running them: {str(exc).splitlines()[0]})",
        ) from exc
    except (RuntimeError, EOFError, OSError, ValueError, zipfile.BadZipFile, KeyError) as exc:
        raise _fail(p, f"truncated or corrupted ({type(exc).__name__}: {exc})") from exc
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise _fail(p, f"not a {FORMAT} file (no format tag)")
    if payload.get("version") != _VERSION:
        raise _fail(p, f"of version {payload.get('version')!r}; expected {_VERSION}")
    state, meta_json = payload.get("state"), payload.get("metadata_json")
    if not isinstance(state, dict) or not isinstance(meta_json, str):
        raise _fail(p, "corrupted (missing state or metadata)")
    if _digest(state, meta_json) != payload.get("digest"):
        raise _fail(p, "corrupted: the SHA-256 digest of its contents does not match")
    return Checkpoint(state=state, metadata=json.loads(meta_json), path=p)


def write_json(path: str | os.PathLike[str], obj: Any) -> Path:
    """Write ``obj`` as indented JSON atomically (temporary file and ``os.replace``).

    Examples
    --------
    >>> import json, tempfile
    >>> from lyactrl.train.checkpoint import write_json
    >>> p = write_json(tempfile.mkdtemp() + "/metrics.json", {"accuracy": 0.9})
    >>> json.loads(p.read_text())
    {'accuracy': 0.9}
    """
    try:
        text = json.dumps(obj, indent=2, sort_keys=True)
    except (TypeError, ValueError) as exc:
        raise InvalidArgumentError(
            f"obj: expected a JSON-serialisable object, received one json rejects ({exc})"
        ) from exc
    out = Path(path)
    _atomic_write(out, lambda fh: fh.write((text + "\n").encode()))
    return out
