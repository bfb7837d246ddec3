"""Child processes that never outlive the worker or the test session.

A child runs in its own session (process group), so stopping it signals the whole
group, and an interrupt aimed at our terminal does not kill it before we can stop it
cleanly. Three nets keep it from being left behind:

* :meth:`ChildProcess.stop`: SIGTERM to the group, SIGKILL after a timeout;
* an ``atexit`` hook that stops every child still running when Python exits;
* on Linux, ``PR_SET_PDEATHSIG``: the kernel kills the child if we die abruptly
  (SIGKILL, crash), when no ``atexit`` hook can run.

Example::

    child = ChildProcess(["redis-server", "--port", "7000"], log_path)
    child.start()
    ...
    child.stop()
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

__all__ = ["ChildProcess"]

_LIVE: set[ChildProcess] = set()
_PR_SET_PDEATHSIG = 1


def _parent_death_signal() -> Callable[[], None] | None:
    """A pre-exec hook asking the kernel to SIGKILL the child when we die, if safe.

    The kernel sends the signal when the *thread* that forked exits, so it is only
    used from the main thread, whose end is the end of the process.
    """
    if not sys.platform.startswith("linux"):
        return None
    if threading.current_thread() is not threading.main_thread():
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    # Looked up here, in the parent: the hook runs between fork and exec, where it
    # should do as little as possible.
    return lambda: prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


class ChildProcess:
    """One supervised child process whose output goes to ``log_path``."""

    def __init__(
        self,
        argv: Sequence[str],
        log_path: Path,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.argv = list(argv)
        self.log_path = log_path
        self._env = dict(env) if env is not None else None
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> None:
        """Start the child; raises ``OSError`` when the program cannot be executed."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self._proc = subprocess.Popen(
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self._env,
                start_new_session=True,
                preexec_fn=_parent_death_signal(),
            )
        _LIVE.add(self)

    def stop(self, timeout_s: float = 5.0) -> int | None:
        """SIGTERM the child's group, SIGKILL it after ``timeout_s``; returns the exit code."""
        proc = self._proc
        if proc is None:
            return None
        try:
            if proc.poll() is None:
                self._signal_group(proc, signal.SIGTERM)
                try:
                    proc.wait(timeout_s)
                except subprocess.TimeoutExpired:
                    self._signal_group(proc, signal.SIGKILL)
                    proc.wait()
        finally:
            _LIVE.discard(self)
        return proc.returncode

    def wait(self, timeout_s: float) -> bool:
        """Wait for the child to exit by itself; ``True`` if it did."""
        if self._proc is None:
            return True
        try:
            self._proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            return False
        return True

    def log_tail(self, lines: int = 30) -> str:
        """The last ``lines`` lines of the child's output, for error messages."""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:]) or "(empty log)"

    @staticmethod
    def _signal_group(proc: subprocess.Popen[bytes], signum: int) -> None:
        # The group id is the child's pid (start_new_session). Only signalled before
        # the child is reaped, so the id cannot have been reused by someone else.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signum)


@atexit.register
def _stop_all() -> None:
    for child in list(_LIVE):
        child.stop(timeout_s=2.0)
