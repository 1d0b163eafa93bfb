"""Sharded branch and bound: one search's box frontier split across worker processes.

The engine (:func:`~lyactrl.verify.branch_and_bound`) decides each box on its own, so the
frontier can be cut into shards searched independently: the region is proved when every
shard's boxes are proved, and a proved counterexample found in any shard refutes it. A search
here runs in rounds:

1. a short warm-up in this process, until there are ``WARM_UP_BOXES`` boxes per worker (or
   the search ends);
2. the frontier is dealt round-robin into one shard per worker, and each worker runs the
   engine on its shard with a share of the budget left (``boxes_left // workers`` boxes and
   at most one round's seconds);
3. a round ends at its time slice (0.5 s, doubling up to 8 s) or, with local processes, as
   soon as the first shard ends (the others stop after their current batch); the shards'
   undecided boxes are gathered and dealt again, so a worker whose shard was easy takes over
   half of what is left of another's, until no box is left (``"proved"``), a shard halts (its
   ``halt``, a proved counterexample, is kept) or the budget is spent.

Box counts are summed, so the budget of boxes holds across workers; the clock is the caller's.
Workers are local processes (``"process"``: :mod:`concurrent.futures` with the ``fork`` start
method, which shares the search with the children without pickling it, so conditions holding
sympy-lambdified functions work; ``spawn`` where ``fork`` is missing or the boxes live on a
CUDA device, which needs a picklable search) or Ray tasks (``"ray"`` or a cluster address;
the search travels by cloudpickle). Each worker runs torch with one thread.
"""

from __future__ import annotations

import concurrent.futures
import multiprocessing
import pickle
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Protocol

import torch

from .._api import choice, optional_import
from .._errors import InvalidArgumentError, InvalidValueError
from .._progress import progress_bar
from .._tensors import positive_int
from ._branch_and_bound import Budget, Frontier, SearchOutcome

__all__ = ["EXECUTORS", "WARM_UP_BOXES", "AbstractShardSearch", "check_workers", "sharded_search"]

#: Where the workers run: local processes, or Ray (a local runtime, or a cluster by address).
EXECUTORS = ("process", "ray")

#: Boxes per worker the warm-up makes before the frontier is dealt.
WARM_UP_BOXES = 16

#: Seconds of the first round; each later round doubles, up to ``MAX_ROUND_SECONDS``.
FIRST_ROUND_SECONDS = 0.5
MAX_ROUND_SECONDS = 8.0


class AbstractShardSearch(Protocol):
    """What a worker runs: the engine on some boxes with a budget (picklable for spawn/Ray)."""

    def search(
        self, frontier: Frontier, budget: Budget, stop: Callable[[Frontier], bool] | None = None
    ) -> SearchOutcome: ...


def check_workers(workers: Any, executor: Any) -> tuple[int, str]:
    """Validate ``workers`` (an int >= 1) and ``executor`` ("process", "ray" or an address).

    An address is a string with ``":"`` in it (``"ray://host:10001"``, ``"host:6379"``) or
    ``"auto"`` (Ray's own rule: the cluster this machine belongs to). With ``workers > 1`` a
    Ray executor is checked at once, whether or not the search outgrows its warm-up: Ray must
    be installed (else :class:`~lyactrl.MissingDependencyError` naming the extra), and an
    address must answer when this process is not yet connected to Ray.
    """
    w = positive_int(workers, "workers")
    if isinstance(executor, str) and (":" in executor or executor == "auto"):
        ex = executor
    else:
        ex = choice(executor, "executor", EXECUTORS)
    if w > 1 and ex != "process":
        ray = optional_import("ray", "ray")
        if ex != "ray" and not ray.is_initialized():
            _check_reachable(ex)
    return w, ex


def sharded_search(
    job: AbstractShardSearch,
    frontier: Frontier,
    *,
    budget: Budget,
    workers: int,
    executor: str,
    progress: bool | None = False,
    desc: str = "branch and bound",
) -> SearchOutcome:
    """Run ``job`` on ``frontier`` with ``workers`` workers (see the module docstring).

    The outcome is that of one :func:`~lyactrl.verify.branch_and_bound` run: ``"proved"``,
    ``"halted"`` (with the halting shard's ``halt``) or ``"budget"``, the undecided boxes of
    all shards and the boxes bounded by all of them.
    """
    out = job.search(frontier, budget, stop=lambda f: len(f) >= WARM_UP_BOXES * workers)
    if out.end != "stopped":
        return out
    processed, frontier = out.processed, out.frontier
    device = str(frontier.lo.device)
    with progress_bar(progress, desc=desc, total=budget.max_boxes, unit="box") as bar:
        bar.update(processed)
        with _pool(job, workers, executor, frontier.lo.device) as run_shards:
            seconds = FIRST_ROUND_SECONDS
            while len(frontier):
                left = budget.time_limit - (time.perf_counter() - budget.start)
                boxes_left = budget.max_boxes - processed
                if boxes_left <= 0 or left <= 0:
                    return SearchOutcome("budget", frontier, processed)
                k = min(workers, len(frontier), boxes_left)
                round_budget = (boxes_left // k, min(left, seconds), budget.batch_size, device)
                outs = run_shards(_deal(frontier, k), round_budget)
                processed += sum(o.processed for o in outs)
                bar.update(sum(o.processed for o in outs))
                frontier = _gather([o.frontier for o in outs], frontier)
                halted = [o for o in outs if o.end == "halted"]
                if halted:
                    return SearchOutcome("halted", frontier, processed, halted[0].halt)
                seconds = min(2 * seconds, MAX_ROUND_SECONDS)
    return SearchOutcome("proved", frontier, processed)


def _deal(frontier: Frontier, k: int) -> list[Frontier]:
    """``k`` shards, box ``i`` to shard ``i mod k`` (neighbouring boxes go to different shards,
    so the shards are balanced), on the CPU to travel."""
    cpu = Frontier(frontier.lo.cpu(), frontier.hi.cpu(), frontier.key.cpu(), frontier.tag.cpu())
    idx = torch.arange(len(cpu))
    return [cpu.select(idx % k == i) for i in range(k)]


def _gather(parts: list[Frontier], like: Frontier) -> Frontier:
    dev = like.lo.device
    lo = torch.cat([p.lo for p in parts]).to(dev)
    hi = torch.cat([p.hi for p in parts]).to(dev)
    return Frontier(
        lo, hi, torch.cat([p.key for p in parts]).to(dev), torch.cat([p.tag for p in parts]).to(dev)
    )


# --- what a worker runs ------------------------------------------------------------------

_JOB: Any = None
_ROUND_OVER: Any = None


def _install(job: Any, round_over: Any) -> None:
    """Process initializer: the search (inherited under fork, unpickled under spawn) and the
    event that ends a round early."""
    global _JOB, _ROUND_OVER
    _JOB, _ROUND_OVER = job, round_over
    torch.set_num_threads(1)


def _run(
    job: Any, shard: Frontier, round_budget: tuple[int, float, int, str], round_over: Any = None
) -> SearchOutcome:
    """One shard's round: the engine on the shard's boxes (on the search's device), with the
    round's budget on this worker's clock, stopped (``"stopped"``) once ``round_over`` is set;
    the undecided boxes come back on the CPU."""
    torch.set_num_threads(1)
    max_boxes, seconds, batch, device = round_budget
    shard = Frontier(*(t.to(device) for t in (shard.lo, shard.hi, shard.key, shard.tag)))
    stop = None if round_over is None else (lambda f: round_over.is_set())
    out = job.search(shard, Budget(max_boxes, seconds, batch), stop=stop)
    f = out.frontier
    cpu = Frontier(f.lo.cpu(), f.hi.cpu(), f.key.cpu(), f.tag.cpu())
    return SearchOutcome(out.end, cpu, out.processed, out.halt)


def _run_installed(shard: Frontier, round_budget: Any) -> SearchOutcome:
    return _run(_JOB, shard, round_budget, _ROUND_OVER)


# --- executors ---------------------------------------------------------------------------


@contextmanager
def _pool(job: Any, workers: int, executor: str, device: torch.device) -> Iterator[Any]:
    if executor == "process":
        with _process_pool(job, workers, device) as run:
            yield run
    else:
        yield _ray_runner(job, executor, workers, device)


@contextmanager
def _process_pool(job: Any, workers: int, device: torch.device) -> Iterator[Any]:
    fork = "fork" in multiprocessing.get_all_start_methods() and device.type == "cpu"
    method = "fork" if fork else "spawn"
    if not fork:
        _check_picklable(job, method)
    ctx = multiprocessing.get_context(method)
    round_over = ctx.Event()
    pool = concurrent.futures.ProcessPoolExecutor(
        max_workers=workers, mp_context=ctx, initializer=_install, initargs=(job, round_over)
    )

    def run(shards: list[Frontier], round_budget: Any) -> list[SearchOutcome]:
        # the round ends when the first shard ends (proved, halted or its share spent): the
        # others stop after their batch, and the boxes left are dealt again
        round_over.clear()
        futures = [pool.submit(_run_installed, s, round_budget) for s in shards]
        concurrent.futures.wait(futures, return_when=concurrent.futures.FIRST_COMPLETED)
        round_over.set()
        return [f.result() for f in futures]

    try:
        yield run
    finally:
        round_over.set()
        pool.shutdown(wait=True, cancel_futures=True)


def _check_picklable(job: Any, method: str) -> None:
    try:
        pickle.dumps(job)
    except Exception as exc:
        raise InvalidArgumentError(
            f"condition: workers > 1 with the {method!r} start method needs a picklable "
            f"condition, received one that does not pickle ({type(exc).__name__}: {exc}); "
            "use executor='ray' (cloudpickle) or workers=1"
        ) from exc


def _ray_runner(
    job: Any, executor: str, workers: int, device: torch.device
) -> Callable[[list[Frontier], Any], list[SearchOutcome]]:
    ray = optional_import("ray", "ray")
    if not ray.is_initialized():
        if executor == "ray":
            ray.init(include_dashboard=False, log_to_driver=False)
        else:
            try:
                ray.init(address=executor, log_to_driver=False)
            except Exception as exc:
                raise InvalidValueError(
                    f"executor: expected a reachable Ray cluster address, received "
                    f"{executor!r} ({type(exc).__name__}: {exc})"
                ) from exc
    try:
        ref = ray.put(job)
    except Exception as exc:
        raise InvalidArgumentError(
            f"condition: executor={executor!r} needs a condition that cloudpickle can send, "
            f"received one that does not pickle ({type(exc).__name__}: {exc}); use "
            "executor='process'"
        ) from exc
    gpus = 1.0 / workers if device.type == "cuda" else 0  # Ray hides GPUs from CPU-only tasks
    task = ray.remote(num_cpus=1, num_gpus=gpus)(_run)

    def run(shards: list[Frontier], round_budget: Any) -> list[SearchOutcome]:
        return ray.get([task.remote(ref, s, round_budget) for s in shards])

    return run


def _check_reachable(address: str, timeout: float = 5.0) -> None:
    """Fail fast, naming ``executor``, when nothing listens at a ``host:port`` address."""
    if address == "auto":
        return
    rest = address.split("://", 1)[-1]
    host, _, port = rest.rpartition(":")
    try:
        socket.create_connection((host or "127.0.0.1", int(port)), timeout=timeout).close()
    except (OSError, ValueError) as exc:
        raise InvalidValueError(
            f"executor: expected a reachable Ray cluster address ('ray://host:port' or "
            f"'host:port'), received {address!r}, where nothing answers "
            f"({type(exc).__name__}: {exc})"
        ) from exc
