"""Shards on Dask distributed: a LocalCluster of worker processes on this machine, or an
existing scheduler (the same code on a cluster).

The shard inputs (spec, anchors' physiology, parameter values) are sent to every worker once;
each task is a shard's bounds and returns its Parquet bytes, which this process writes
(:mod:`sermsim.trials.shards`), so workers need no shared folder.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from typing import Any

from sermsim.core.errors import SermsimError, SpecError
from sermsim.trials.shards import (
    ShardError,
    ShardInputs,
    ShardRunner,
    ShardTask,
    compute_shard,
)

# How long to try to reach a scheduler before saying it cannot be reached (engineering).
CONNECT_TIMEOUT_S = 10


def dask_runner(client: Any) -> ShardRunner:
    """A shard runner that submits every shard to ``client`` (a ``distributed.Client``) and
    yields each result as it arrives."""

    def run(inputs: ShardInputs, tasks: Sequence[ShardTask]) -> Iterator[tuple[ShardTask, bytes]]:
        from distributed import as_completed
        from distributed.client import FutureCancelledError
        from distributed.scheduler import KilledWorker

        if not tasks:
            return
        try:
            shared = client.scatter(inputs, broadcast=True, hash=False)
            futures = {
                client.submit(compute_shard, shared, task, pure=False): task for task in tasks
            }
            for future in as_completed(futures):
                yield futures[future], future.result()
                future.release()
        except SermsimError:
            raise
        except KilledWorker as exc:
            raise ShardError(
                f"a Dask worker died running a shard ({exc}; out of memory?): "
                "rerun to resume, with more memory per worker or fewer workers"
            ) from None
        except (OSError, TimeoutError, FutureCancelledError) as exc:
            raise ShardError(
                f"the Dask cluster failed ({type(exc).__name__}: {exc}); rerun to resume"
            ) from None

    return run


@contextmanager
def dask_shards(
    *, local_workers: int | None = None, scheduler: str | None = None
) -> Iterator[ShardRunner]:
    """A shard runner on a new LocalCluster of ``local_workers`` processes (one thread each),
    or on the scheduler at ``scheduler`` (e.g. ``tcp://10.0.0.5:8786``); closed on exit."""
    if (local_workers is None) == (scheduler is None):
        raise SpecError("dask", (local_workers, scheduler), "give local_workers or scheduler")
    if local_workers is not None and local_workers < 1:
        raise SpecError("dask-local", local_workers, "give a number of worker processes >= 1")
    import dask.config
    from distributed import Client, LocalCluster

    with ExitStack() as stack:
        if local_workers is not None:
            # Dask starts workers with MALLOC_TRIM_THRESHOLD_=65536 (to hand freed memory back
            # at once), which also pins glibc's mmap threshold low: every array of a block is
            # mapped and unmapped anew, and the kernel's page faults cost as much as the
            # arithmetic (measured: 32 s of system time for 58 s of shards on 200,000 people).
            # The blocks are small (records.CHUNK_PEOPLE), so glibc's adaptive default is kept.
            environ = dict(dask.config.get("distributed.nanny.pre-spawn-environ"))
            environ.pop("MALLOC_TRIM_THRESHOLD_", None)
            stack.enter_context(dask.config.set({"distributed.nanny.pre-spawn-environ": environ}))
            cluster = stack.enter_context(
                LocalCluster(
                    n_workers=local_workers,
                    threads_per_worker=1,
                    processes=True,
                    dashboard_address=None,
                )
            )
            client = stack.enter_context(Client(cluster))
        else:
            try:
                client = stack.enter_context(Client(scheduler, timeout=CONNECT_TIMEOUT_S))
            except (OSError, TimeoutError, ValueError) as exc:
                reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                raise SpecError(
                    "scheduler",
                    scheduler,
                    f"cannot connect ({reason[:120]}): start a scheduler there "
                    "(dask scheduler) or give its address as tcp://HOST:PORT",
                ) from None
        yield dask_runner(client)
