"""Small thread pools for work that releases the GIL (Arrow kernels, numpy, hashlib), so
that an ingest uses the machine's cores beyond what a single Arrow call parallelises.

Only leaf work is submitted (a task never waits for another task of the same pool), so the
pools cannot deadlock however busy they are.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from functools import cache
from typing import ParamSpec, TypeVar

import pyarrow as pa

P = ParamSpec("P")
R = TypeVar("R")


@cache
def pool() -> ThreadPoolExecutor:
    """The shared pool, as many threads as Arrow uses (its ``cpu_count``, at most 8)."""
    return ThreadPoolExecutor(max_workers=max(1, min(pa.cpu_count(), 8)),
                              thread_name_prefix="ingest")


@cache
def _scans() -> ThreadPoolExecutor:
    """One thread for whole-file scans (hashing, finding line ends): they run one after the
    other beside the main work and never hold up the short column tasks of ``pool``."""
    return ThreadPoolExecutor(max_workers=1, thread_name_prefix="ingest-scan")


def _forget_pools() -> None:
    pool.cache_clear()
    _scans.cache_clear()


# a forked worker (Celery, Airflow) inherits the pool objects but not their threads
os.register_at_fork(after_in_child=_forget_pools)


def background(fn: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> Future[R]:
    """Start a whole-file scan ``fn``; ``.result()`` waits for it (and re-raises its error)."""
    return _scans().submit(fn, *args, **kwargs)
