"""Wall time and peak memory of a call, for ``eval`` and ``bench``.

:class:`Measure` is a context manager: it records the elapsed wall time, the
peak resident memory of this process above the level at entry (sampled by a
background thread with ``psutil``, as torch allocations are invisible to
``tracemalloc``), and on CUDA the peak allocated GPU memory.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass

import torch


def _rss_bytes() -> int:
    try:
        import psutil

        return psutil.Process(os.getpid()).memory_info().rss
    except ImportError:  # Linux fallback: /proc/self/statm (pages)
        try:
            with open("/proc/self/statm") as f:
                return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        except OSError:
            return 0


@dataclass
class Measure:
    """``with Measure() as m: ...`` then ``m.seconds``, ``m.peak_rss_mb``, ``m.peak_cuda_mb``."""

    interval: float = 0.005
    seconds: float = 0.0
    peak_rss_mb: float = 0.0
    peak_cuda_mb: float | None = None

    def __enter__(self) -> "Measure":
        self._base = self._peak = _rss_bytes()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        if torch.cuda.is_available() and torch.cuda.is_initialized():
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
        self._t0 = time.perf_counter()
        return self

    def _sample(self) -> None:
        while not self._stop.wait(self.interval):
            self._peak = max(self._peak, _rss_bytes())

    def __exit__(self, *exc) -> None:
        if torch.cuda.is_available() and torch.cuda.is_initialized():
            torch.cuda.synchronize()
            self.peak_cuda_mb = torch.cuda.max_memory_allocated() / 2**20
        self.seconds = time.perf_counter() - self._t0
        self._stop.set()
        self._thread.join()
        self._peak = max(self._peak, _rss_bytes())
        self.peak_rss_mb = (self._peak - self._base) / 2**20
