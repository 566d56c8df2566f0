"""Large buffers go back to the operating system when freed, so ``serve``'s memory follows its budget.

glibc's malloc serves allocations past a threshold (128 KiB at first) with ``mmap`` and returns
them on ``free``, but raises that threshold every time such a block is freed, up to 32 MiB: after
a few 16 MiB request bodies, later ones come from the heap arenas (one per thread), which keep the
pages. ``serve`` under issue 13's attack mixes then held 276 MB more than at rest although its
requests never took more than the per-peer budget (148 MiB); with the threshold pinned, 143 MB
(benchmark 7, load average 2.7). Pinning it costs one ``mmap`` and ``munmap`` per large buffer,
which request bodies of that size dwarf.

Only ``otel-scoring serve`` calls this: an application embedding :class:`OTLPReceiver` keeps its
own malloc settings. Elsewhere than glibc it does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import platform

_logger = logging.getLogger(__name__)

_M_MMAP_THRESHOLD = -3  # glibc's malloc.h
_THRESHOLD_BYTES = 128 * 1024  # glibc's own starting value, now fixed


def return_large_buffers_to_the_system() -> bool:
    """Pin glibc's mmap threshold at 128 KiB; True when it took effect."""
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return bool(libc.mallopt(_M_MMAP_THRESHOLD, _THRESHOLD_BYTES))
    except (OSError, AttributeError):
        _logger.debug("Could not set glibc's mmap threshold", exc_info=True)
        return False
