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


def _thread_cpu(tids: set[int]) -> float:
    """CPU seconds used so far by the threads of this process whose ids are not in ``tids``."""
    import os

    total = 0
    tick = os.sysconf("SC_CLK_TCK")
    try:
        names = os.listdir("/proc/self/task")
    except OSError:
        return 0.0
    for name in names:
        if not name.isdigit() or int(name) in tids:
            continue
        try:
            with open(f"/proc/self/task/{name}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except (OSError, IndexError, ValueError):
            continue
    return total / tick


class CallWatchdog:
    """Fire ``on_timeout(step, cpu_s, background)`` when one reward call uses more than its CPU budget,
    or (``background=True``) when threads the training did not start burn CPU between calls.

    ``trusted_tids`` are the native ids of the threads that existed before the candidate's
    code was loaded (the training's own); every other thread's CPU time counts as the
    reward's, and more than ``background_cpu_s`` (plus 2% of the training thread's time,
    for threads SB3 starts later, such as TensorBoard's writer) ends the training.
    """

    def __init__(self, timeout_s: float, on_timeout: Callable[..., None], first_calls_s: float = 5.0,
                 first_calls: int = 3, wall_factor: float = 20.0, poll_s: float = 0.1,
                 trusted_tids: set[int] | None = None, background_cpu_s: float = 5.0):
        self.timeout_s, self.first_calls_s, self.first_calls = timeout_s, max(first_calls_s, timeout_s), first_calls
        self.wall_factor, self.poll_s, self.on_timeout = wall_factor, poll_s, on_timeout
        self._clock = time.pthread_getcpuclockid(threading.get_ident())
        self.trusted = None if trusted_tids is None else set(trusted_tids) | {threading.get_native_id()}
        self.background_cpu_s = background_cpu_s
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
        if self.trusted is not None:
            self.trusted.add(threading.get_native_id())
        while not self.fired:
            time.sleep(self.poll_s)
            if self.trusted is not None:
                bg = _thread_cpu(self.trusted)
                if bg > self.background_cpu_s + 0.02 * time.clock_gettime(self._clock):
                    self.fired = True
                    self.on_timeout(self._step, bg, True)
                    return
            cpu0 = self._cpu0
            if cpu0 is None:
                continue
            used = time.clock_gettime(self._clock) - cpu0
            budget = self.budget()
            if (used > budget or time.monotonic() - self._wall0 > budget * self.wall_factor) \
                    and self._cpu0 == cpu0:
                self.fired = True
                self.on_timeout(self._step, used, False)
