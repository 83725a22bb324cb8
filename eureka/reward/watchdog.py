"""A watchdog for reward calls during training: CPU time per call, wall time as a backstop.

A reward can behave in the dry run and loop forever later (on a batch size, a call count,
a rare state). The wrapper brackets each call with ``begin``/``end``; a thread watches the
calling thread's CPU clock and, when one call has used more than its budget, hands the
step and the time spent to ``on_timeout`` (which reports ``RewardTimeout`` and ends the
process). Cost per call: two clock reads.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class CallWatchdog:
    """Fire ``on_timeout(step, cpu_s)`` when one reward call uses more than its CPU budget."""

    def __init__(self, timeout_s: float, on_timeout: Callable[[int, float], None], first_calls_s: float = 5.0,
                 first_calls: int = 3, wall_factor: float = 20.0, poll_s: float = 0.1):
        self.timeout_s, self.first_calls_s, self.first_calls = timeout_s, max(first_calls_s, timeout_s), first_calls
        self.wall_factor, self.poll_s, self.on_timeout = wall_factor, poll_s, on_timeout
        self._clock = time.pthread_getcpuclockid(threading.get_ident())
        self._cpu0: float | None = None
        self._wall0 = 0.0
        self._step = 0
        self.calls = 0
        self.fired = False
        self._thread = threading.Thread(target=self._watch, daemon=True, name="reward-watchdog")
        self._thread.start()

    def begin(self, step: int) -> None:
        """A reward call starts (in the thread that created the watchdog)."""
        self._step = step
        self._wall0 = time.monotonic()
        self._cpu0 = time.clock_gettime(self._clock)

    def end(self) -> None:
        """The call returned."""
        self._cpu0 = None
        self.calls += 1

    def budget(self) -> float:
        return self.first_calls_s if self.calls < self.first_calls else self.timeout_s

    def _watch(self) -> None:
        while not self.fired:
            time.sleep(self.poll_s)
            cpu0 = self._cpu0
            if cpu0 is None:
                continue
            used = time.clock_gettime(self._clock) - cpu0
            budget = self.budget()
            if (used > budget or time.monotonic() - self._wall0 > budget * self.wall_factor) \
                    and self._cpu0 == cpu0:
                self.fired = True
                self.on_timeout(self._step, used)
