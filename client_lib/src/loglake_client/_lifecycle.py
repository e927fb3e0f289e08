"""Process-wide hooks shared by every live logger: ``atexit``, ``fork`` and ``SIGTERM``.

- At exit, every open logger is closed with its ``shutdown_timeout`` (all in parallel, so N loggers take the
  longest timeout, not the sum).
- In a child after ``os.fork()``, every logger forgets the parent's queue and worker and starts its own on
  first use (the parent delivers its own events; a child that resent them would duplicate them).
- On SIGTERM, if nothing else handles it (the disposition is still the default, which would kill the process
  without running ``atexit``), loggers are closed within their timeout and the process then dies of SIGTERM as
  it would have. Servers that handle SIGTERM themselves (gunicorn, uvicorn) exit normally, and the ``atexit``
  hook flushes.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import threading
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from loglake_client.logger import KinesisLogger

_registry_lock = threading.Lock()
_live: set[KinesisLogger] = set()
#: Thread idents of the worker threads, so that log records they cause can be told apart and dropped.
worker_idents: set[int] = set()
_sigterm_installed = False


def register(logger: KinesisLogger) -> None:
    with _registry_lock:
        _live.add(logger)


def unregister(logger: KinesisLogger) -> None:
    with _registry_lock:
        _live.discard(logger)


def live_loggers() -> list[KinesisLogger]:
    with _registry_lock:
        return list(_live)


def close_all(timeout: float | None = None) -> None:
    """Close every open logger, all at once, each within its own (or the given) timeout."""
    loggers = live_loggers()
    now = time.monotonic()
    for lg in loggers:
        lg._begin_close(now + (lg.shutdown_timeout if timeout is None else timeout))
    for lg in loggers:
        lg._finish_close()


def _at_exit() -> None:
    with contextlib.suppress(Exception):  # nothing may print tracebacks at exit
        close_all()


def _after_fork_in_child() -> None:
    global _registry_lock
    _registry_lock = threading.Lock()
    worker_idents.clear()
    for lg in list(_live):
        lg._reinit_after_fork()


def _on_sigterm(signum: int, frame: Any) -> None:
    # The main thread may have been interrupted while holding one of our locks, so the closing is done by a
    # helper thread that this handler waits for with a bound: at worst the flush is cut short, never hung.
    loggers = live_loggers()
    budget = max((lg.shutdown_timeout for lg in loggers), default=0.0)
    helper = threading.Thread(target=close_all, name="loglake-sigterm", daemon=True)
    helper.start()
    helper.join(budget + 1.0)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    os.kill(os.getpid(), signal.SIGTERM)


def install_sigterm_handler() -> bool:
    """Install the flush-then-die SIGTERM handler if SIGTERM still has its default disposition.

    Returns whether it is installed. Only the main thread may install signal handlers; an application or
    server that installed its own handler keeps it (and is then responsible for exiting normally, which
    runs the ``atexit`` flush).
    """
    global _sigterm_installed
    if _sigterm_installed:
        return True
    if threading.current_thread() is not threading.main_thread():
        return False
    try:
        if signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
            return False
        signal.signal(signal.SIGTERM, _on_sigterm)
    except (ValueError, OSError):  # not the main interpreter, or no SIGTERM on this platform
        return False
    _sigterm_installed = True
    return True


atexit.register(_at_exit)
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
