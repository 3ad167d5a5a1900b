"""Thread-safe LRU cache that computes each missing key once, even under concurrent requests."""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Callable, Generic, Hashable, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class ComputeOnceLRU(Generic[K, V]):
    """LRU of at most ``capacity`` values; :meth:`get_or_compute` runs ``compute`` once per miss.

    Threads asking for a key that is being computed wait for that computation instead
    of starting their own. A key evicted and asked for again is simply recomputed, so
    ``compute`` must be deterministic.
    """

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError("capacity must be >= 1")
        self.capacity = capacity
        self.misses = 0  # number of compute() calls, for tests and stats
        self._values: OrderedDict[K, V] = OrderedDict()
        self._pending: dict[K, threading.Lock] = {}
        self._lock = threading.Lock()

    def get(self, key: K) -> V | None:
        """The cached value (marked recently used), or None."""
        with self._lock:
            value = self._values.get(key)
            if value is not None:
                self._values.move_to_end(key)
            return value

    def get_or_compute(self, key: K, compute: Callable[[], V]) -> V:
        """The cached value for ``key``, computing it (once across threads) if missing."""
        with self._lock:
            if key in self._values:
                self._values.move_to_end(key)
                return self._values[key]
            key_lock = self._pending.setdefault(key, threading.Lock())
        with key_lock:
            value = self.get(key)
            if value is not None:
                return value
            value = compute()
            with self._lock:
                self.misses += 1
                self._values[key] = value
                while len(self._values) > self.capacity:
                    self._values.popitem(last=False)
                self._pending.pop(key, None)
            return value
