"""Stopping a run cleanly on Ctrl-C (SIGINT) or `kill` (SIGTERM).

The first signal asks the loop to stop after the step it is in: the loop then writes a
checkpoint of that step and raises :class:`TrainingInterrupted`. A second signal stops
at once, as Python would without this handler.
"""

from __future__ import annotations

import signal
import sys
import threading
from contextlib import contextmanager

from cgpgan.errors import TrainingInterrupted

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class StopRequest:
    """Set by the signal handler, read by the loop between steps."""

    def __init__(self):
        self.signal_number: int | None = None

    @property
    def requested(self) -> bool:
        return self.signal_number is not None


@contextmanager
def stop_on_signals():
    """Within the block, SIGINT and SIGTERM set the yielded StopRequest instead of
    killing the process; the caller's handlers come back afterwards. Outside the main
    thread signals cannot be caught, and the block runs without this."""
    request = StopRequest()
    if threading.current_thread() is not threading.main_thread():
        yield request
        return

    def handle(number, frame):
        if request.requested:  # a second signal: stop now
            raise TrainingInterrupted(number)
        request.signal_number = number
        name = signal.Signals(number).name
        print(
            f"\ncgpgan: {name} received: stopping after this step (send it again to stop at once)",
            file=sys.stderr,
            flush=True,
        )

    previous = {number: signal.signal(number, handle) for number in SIGNALS}
    try:
        yield request
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
