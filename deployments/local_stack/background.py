"""Background loops: what AWS does on its own while a local stack runs (``make serve``).

A ``BackgroundLoop`` is a daemon thread that calls a step function until it is stopped:
the event source mapping's poll (``poller.py``), DynamoDB's TTL sweep (``ttl.py``), the
alarm inbox's drain (``alarms.py``). Like the AWS services it stands in for, it outlives
its failures: a step that raises is logged (masked), the loop waits a growing back-off and
tries again; it never ends because one poll failed. ``stop()`` (or leaving the ``with``
block) ends it between two steps, so Ctrl-C and a test fixture's teardown stop it cleanly.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from types import TracebackType
from typing import Self

from tasks.core.masking import mask

logger = logging.getLogger("deployments.local_stack")

#: The first back-off after a failed step, and the longest (seconds).
BACKOFF = (0.5, 30.0)
#: How long ``stop()`` waits for a step in progress (a processor invocation is at most
#: the function's 30 s timeout).
STOP_TIMEOUT = 35.0


class BackgroundLoop:
    """``step()`` over and over in a daemon thread until stopped.

    ``step`` returns whether it found work: a busy step is followed by the next at once,
    an idle one by a pause of ``interval`` seconds (so the delay before new work is seen
    is at most ``interval`` plus one step). A step that raises counts in ``failures``, is
    logged, and the next waits ``backoff[0]`` seconds, doubling up to ``backoff[1]``.
    """

    def __init__(
        self,
        name: str,
        step: Callable[[], bool],
        interval: float,
        *,
        backoff: tuple[float, float] = BACKOFF,
    ) -> None:
        if interval <= 0 or backoff[0] <= 0 or backoff[1] < backoff[0]:
            raise ValueError(f"{name}: interval and back-off must be positive, got {interval}")
        self.name = name
        self.step = step
        self.interval = interval
        self.backoff = backoff
        self.failures = 0
        self.last_error: str | None = None
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._progress = threading.Condition()
        self._started = 0
        self._finished = 0
        self._ended = False
        self._thread: threading.Thread | None = None

    # --- lifecycle -----------------------------------------------------------------------

    def start(self) -> Self:
        if self._thread is not None:
            raise RuntimeError(f"{self.name} was already started")
        self._thread = threading.Thread(target=self._run, name=f"local {self.name}", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        """Ask the loop to end after the step in progress; wait up to ``timeout`` for it."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)
            if self._thread.is_alive():
                logger.warning("%s did not stop within %.0f s", self.name, timeout)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    # --- for callers that need to know a step has happened (tests, start-up) --------------

    def wait_for_fresh_pass(self, timeout: float) -> bool:
        """Wake the loop and wait until a step that began after this call has finished
        (successfully or not); False if none did within ``timeout`` or the loop ended."""
        with self._progress:
            target = self._started + 1
            self._wake.set()
            self._progress.wait_for(lambda: self._finished >= target or self._ended, timeout)
            return self._finished >= target

    # --- the loop --------------------------------------------------------------------------

    def _run(self) -> None:
        backoff = self.backoff[0]
        while not self._stop.is_set():
            with self._progress:
                self._started += 1
            try:
                busy = self.step()
            except Exception as exc:  # the loop outlives any one failure, as AWS's pollers do
                self.failures += 1
                self.last_error = f"{type(exc).__name__}: {mask(str(exc))[:300]}"
                logger.warning(
                    "%s failed (%s); trying again in %.1f s", self.name, self.last_error, backoff
                )
                pause, backoff = backoff, min(backoff * 2, self.backoff[1])
            else:
                backoff = self.backoff[0]
                pause = 0.0 if busy else self.interval
            finally:
                with self._progress:
                    self._finished += 1
                    self._progress.notify_all()
            if pause and not self._stop.is_set():
                self._wake.wait(pause)
            self._wake.clear()
        with self._progress:
            self._ended = True
            self._progress.notify_all()
