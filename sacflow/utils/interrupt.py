"""Ctrl-C and SIGTERM end a run with a checkpoint and the command that resumes it.

While a trainer's loop runs, SIGINT and SIGTERM only raise a flag; the loop checks it where a
checkpoint is exact (after any env step from scratch; after an update or at an episode end
offline-to-online; at an iteration end on-policy), saves, prints the resume command and exits
with 128 + the signal number, as a shell reports a process killed by it. A second Ctrl-C while
the loop finishes its step stops at once, without a checkpoint.
"""

from __future__ import annotations

import shlex
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path

from typing_extensions import Self

SIGNALS = (signal.SIGINT, signal.SIGTERM)


def resume_command(argv: list[str] | None = None) -> str:
    """The command line that started this process: the same command resumes the run."""
    argv = list(sys.argv if argv is None else argv)
    program = ["python", argv[0]] if argv[0].endswith(".py") else [Path(argv[0]).name]
    return shlex.join(program + argv[1:])


class StopSignals:
    """``with StopSignals() as stop:`` ... ``stop.exit_if_asked(save, out_dir, step)`` between steps."""

    def __init__(self, announce: str = "finishing this step"):
        self.received: int | None = None
        self.announce = announce
        self._previous: dict[int, object] = {}

    def __enter__(self) -> Self:
        if threading.current_thread() is threading.main_thread():  # signal handlers live in the main thread only
            for sig in SIGNALS:
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)

    def _handle(self, signum: int, frame) -> None:
        if self.received is not None and signum == signal.SIGINT:
            raise KeyboardInterrupt  # asked twice: stop now
        self.received = signum
        print(f"\n[sacflow] {signal.Signals(signum).name}: {self.announce}, then checkpointing "
              "(Ctrl-C again stops at once, without a checkpoint)", file=sys.stderr, flush=True)

    def exit_if_asked(self, save: Callable[[], None], out_dir: Path, step: int) -> None:
        if self.received is None:
            return
        save()
        print(f"[sacflow] stopped at step {step}; checkpoint in {out_dir}\n"
              f"[sacflow] resume with: {resume_command()}", file=sys.stderr, flush=True)
        raise SystemExit(128 + self.received)
