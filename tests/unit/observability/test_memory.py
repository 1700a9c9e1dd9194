"""Giving free heap memory back: a real glibc call, measured on a real allocation."""

from __future__ import annotations

import ctypes
import platform
from pathlib import Path

import pytest

from whisperd.observability.memory import release_free_memory


def _rss_bytes() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="malloc_trim is glibc's")
def test_freed_small_blocks_go_back_to_the_system() -> None:
    libc = ctypes.CDLL(None)
    libc.malloc.restype = ctypes.c_void_p
    libc.free.argtypes = [ctypes.c_void_p]
    release_free_memory()
    before = _rss_bytes()
    # 200 MB in 64 kB blocks: below the mmap threshold, so they live in the heap and free() keeps them
    blocks = [libc.malloc(64 * 1024) for _ in range(3201)]
    for block in blocks:
        ctypes.memset(block, 1, 64 * 1024)
    keep = blocks.pop()  # the last block stays live at the top of the heap: free() alone cannot shrink it
    for block in blocks:
        libc.free(block)
    held = _rss_bytes()
    assert release_free_memory() is True
    released = _rss_bytes()
    libc.free(keep)
    assert held - before > 150 * 2**20
    assert held - released > 150 * 2**20
