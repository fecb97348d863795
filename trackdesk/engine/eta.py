"""ETA from measured throughput, withheld until the rate is stable.

A wrong ETA is worse than none: the estimate stays None until there are enough samples
over a long enough span and the recent rate agrees with the older one.
"""

from __future__ import annotations

import time
from collections import deque


class EtaMeter:
    def __init__(self, window_s: float = 20.0, min_span_s: float = 2.0, min_samples: int = 4,
                 tolerance: float = 0.35) -> None:
        self.window_s = window_s
        self.min_span_s = min_span_s
        self.min_samples = min_samples
        self.tolerance = tolerance
        self._samples: deque[tuple[float, int]] = deque()

    def reset(self) -> None:
        self._samples.clear()

    def add(self, processed: int, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        if self._samples and processed < self._samples[-1][1]:
            self._samples.clear()  # counts went backwards: a new attempt
        self._samples.append((now, processed))
        while self._samples and now - self._samples[0][0] > self.window_s:
            self._samples.popleft()

    def rate(self) -> float | None:
        """Points per second over the window, or None when not yet trustworthy."""
        s = self._samples
        if len(s) < self.min_samples:
            return None
        span = s[-1][0] - s[0][0]
        if span < self.min_span_s:
            return None
        total_rate = (s[-1][1] - s[0][1]) / span
        if total_rate <= 0:
            return None
        mid = s[len(s) // 2]
        first = (mid[1] - s[0][1]) / max(1e-9, mid[0] - s[0][0])
        second = (s[-1][1] - mid[1]) / max(1e-9, s[-1][0] - mid[0])
        if abs(first - second) > self.tolerance * total_rate:
            return None
        return total_rate

    def eta(self, processed: int, total: int) -> float | None:
        if total <= 0 or processed >= total:
            return None if total <= 0 else 0.0
        rate = self.rate()
        if rate is None:
            return None
        return (total - processed) / rate
