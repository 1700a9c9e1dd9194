"""Giving freed memory back to the operating system: when the server goes idle, and when a model unloads.

A burst of concurrent requests makes CTranslate2 and numpy allocate buffers sized by the batch in
flight; glibc keeps most of what they free inside its heaps and arenas, so the process's resident size
after a burst depends on the last batches' shapes rather than on what is still in use (figures in
``bench/results/2026-11-24-tuning.md``). ``malloc_trim`` hands the free pages back, so an idle server's RSS reflects its live memory: what a home server's owner
sees in ``top``, and what a leak check can trust.

``malloc_trim`` shrinks only the main arena's top, though: memory freed in the per-thread arenas that
glibc gives CTranslate2's and the batcher's threads stays resident, so an unloaded model's memory would
not go back. :func:`limit_malloc_arenas` (called first thing by the ``whisperd`` command, before any
thread allocates) keeps every thread in one arena, which the trim then reaches entirely; measurements of
both, and of the cost (none found), are in ``bench/results/2026-12-01-model-unload-memory.md``.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import logging
import os
from collections.abc import Callable

__all__ = ["limit_malloc_arenas", "release_free_memory"]

log = logging.getLogger(__name__)


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    """glibc's ``malloc_trim``, or None where the C library has none (musl, macOS)."""
    name = ctypes.util.find_library("c")
    try:
        function = ctypes.CDLL(name).malloc_trim
    except (OSError, AttributeError, TypeError):
        return None
    function.argtypes = [ctypes.c_size_t]
    function.restype = ctypes.c_int
    trim: Callable[[int], int] = function
    return trim


_M_ARENA_MAX = -8  # glibc's mallopt parameter number for the arena cap


def limit_malloc_arenas(arenas: int = 1) -> bool:
    """Cap glibc's malloc arenas (unless ``MALLOC_ARENA_MAX`` says otherwise); True when applied.

    Only effective before other threads allocate: call it at the very start of the process.
    """
    if os.environ.get("MALLOC_ARENA_MAX"):
        return False  # the operator chose; glibc already read it
    name = ctypes.util.find_library("c")
    try:
        mallopt = ctypes.CDLL(name).mallopt
    except (OSError, AttributeError, TypeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    return bool(mallopt(_M_ARENA_MAX, arenas))


def release_free_memory() -> bool:
    """Return free heap pages to the system; True when the C library could do it. Never raises."""
    trim = _malloc_trim()
    if trim is None:
        return False
    try:
        trim(0)
    except Exception:  # pragma: no cover - a C call that failed must not fail a request
        log.debug("malloc_trim failed", exc_info=True)
        return False
    return True
