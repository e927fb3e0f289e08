"""Process lifecycle, in real subprocesses: exit, SIGTERM, fork, and the spool surviving ``kill -9``."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
import urllib.request
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest
from loglake_client import KinesisLogger
from loglake_client.testing import FakeFirehose

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals, fork and flock")

PREAMBLE = textwrap.dedent(
    """
    import os, signal, sys, threading, time
    from loglake_client import KinesisLogger, RetryPolicy

    OUT = sys.argv[1]

    class FileFirehose:
        # Every accepted record is appended to OUT/<pid>.ndjson: what each process really sent.
        def put_record_batch(self, *, DeliveryStreamName, Records):
            with open(os.path.join(OUT, f"{os.getpid()}.ndjson"), "ab") as f:
                for r in Records:
                    f.write(r["Data"])
            answers = [{"RecordId": str(i)} for i in range(len(Records))]
            return {"FailedPutCount": 0, "RequestResponses": answers}
    """
)


def script(body: str) -> str:
    return PREAMBLE + textwrap.dedent(body)


def events_by_pid(out: Path) -> dict[int, list[dict]]:
    result = {}
    for path in out.glob("*.ndjson"):
        lines = path.read_bytes().split(b"\n")
        result[int(path.stem)] = [json.loads(line) for line in lines if line.strip()]
    return result


def run(code: str, out: Path, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code, str(out)], capture_output=True, text=True, timeout=timeout, check=False
    )


def start(code: str, out: Path) -> tuple[subprocess.Popen[str], list[str]]:
    """Start a script, wait for its ``ready ...`` line (no sleeping here); return the line's other words."""
    proc = subprocess.Popen(
        [sys.executable, "-c", code, str(out)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    words = proc.stdout.readline().split()
    if words[:1] != ["ready"]:
        proc.kill()
        pytest.fail(f"the script did not get ready: {proc.communicate(timeout=30)}")
    return proc, words[1:]


def test_events_queued_at_exit_are_flushed_by_atexit(tmp_path: Path) -> None:
    proc = run(
        script(
            """
            log = KinesisLogger("s", client=FileFirehose(), flush_interval=3600)
            for i in range(100):
                log.info(i=i)
            # no close(), no flush(): the interpreter simply exits
            """
        ),
        tmp_path,
    )
    assert proc.returncode == 0 and proc.stderr == ""
    (events,) = events_by_pid(tmp_path).values()
    assert sorted(e["i"] for e in events) == list(range(100))


def test_logging_after_close_and_during_shutdown_is_silent(tmp_path: Path) -> None:
    proc = run(
        script(
            """
            import logging
            from loglake_client import KinesisHandler
            log = KinesisLogger("s", client=FileFirehose())
            logging.getLogger().addHandler(KinesisHandler(logger=log))
            logging.getLogger().warning("before close")
            log.close()
            log.info(after="close")
            logging.getLogger().warning("after close")

            def late():
                while True:
                    log.info(late=True)
            threading.Thread(target=late, daemon=True).start()
            """
        ),
        tmp_path,
    )
    assert proc.returncode == 0
    assert proc.stderr == ""
    (events,) = events_by_pid(tmp_path).values()
    assert [e.get("message") for e in events] == ["before close"]


def test_sigterm_flushes_before_the_process_dies_of_it(tmp_path: Path) -> None:
    proc, _ = start(
        script(
            """
            log = KinesisLogger("s", client=FileFirehose(), flush_interval=3600)
            for i in range(50):
                log.info(i=i)
            print("ready", flush=True)
            threading.Event().wait()
            """
        ),
        tmp_path,
    )
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(30) == -signal.SIGTERM  # still dies of SIGTERM, as without the library
    (events,) = events_by_pid(tmp_path).values()
    assert sorted(e["i"] for e in events) == list(range(50))


def test_sigterm_to_a_wsgi_server_flushes_its_access_log(tmp_path: Path) -> None:
    proc, ready = start(
        script(
            """
            from wsgiref.simple_server import make_server, WSGIRequestHandler
            from loglake_client import LoglakeWSGIMiddleware

            class Quiet(WSGIRequestHandler):
                def log_message(self, *args):
                    pass

            def app(environ, start_response):
                start_response("200 OK", [("Content-Type", "text/plain")])
                return [b"hello"]

            log = KinesisLogger("s", service_name="web", client=FileFirehose(), flush_interval=3600)
            server = make_server("127.0.0.1", 0, LoglakeWSGIMiddleware(app, log), handler_class=Quiet)
            print("ready", server.server_port, flush=True)
            server.serve_forever()
            """
        ),
        tmp_path,
    )
    port = int(ready[0])
    for i in range(5):
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/page/{i}?n={i}", timeout=10) as response:
            assert response.read() == b"hello"
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(30) == -signal.SIGTERM
    (events,) = events_by_pid(tmp_path).values()
    assert sorted(e["path"] for e in events) == [f"/page/{i}" for i in range(5)]
    assert {(e["status_code"], e["bytes_sent"], e["service_name"]) for e in events} == {(200, 5, "web")}


def test_a_forked_child_sends_its_own_events_and_never_the_parents(tmp_path: Path) -> None:
    proc = run(
        script(
            """
            log = KinesisLogger("s", client=FileFirehose(), flush_interval=3600)
            for i in range(10):
                log.info(who="parent", i=i)      # queued, not yet sent, when the fork happens
            pid = os.fork()
            if pid == 0:
                for i in range(5):
                    log.info(who="child", i=i)
                log.close()
                os._exit(0)
            os.waitpid(pid, 0)
            for i in range(10, 13):
                log.info(who="parent", i=i)
            log.close()
            print(pid)
            """
        ),
        tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    child_pid = int(proc.stdout.strip())
    by_pid = events_by_pid(tmp_path)
    assert len(by_pid) == 2
    child = by_pid.pop(child_pid)
    (parent,) = by_pid.values()
    assert Counter((e["who"], e["i"]) for e in child) == Counter(("child", i) for i in range(5))
    assert Counter((e["who"], e["i"]) for e in parent) == Counter(("parent", i) for i in range(13))


def test_a_child_forked_while_another_thread_holds_the_queue_lock_does_not_deadlock(tmp_path: Path) -> None:
    proc = run(
        script(
            """
            log = KinesisLogger("s", client=FileFirehose())
            held, release = threading.Event(), threading.Event()

            def hog():
                with log._lock:
                    held.set()
                    release.wait()
            threading.Thread(target=hog, daemon=True).start()
            held.wait()
            pid = os.fork()
            if pid == 0:
                signal.alarm(20)                 # a deadlock would end here, as a failure
                log.info(who="child")
                ok = log.flush(timeout=10)
                log.close()
                os._exit(0 if ok else 3)
            release.set()
            _, status = os.waitpid(pid, 0)
            log.close()
            print(pid, os.waitstatus_to_exitcode(status))
            """
        ),
        tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    child_pid, code = map(int, proc.stdout.split())
    assert code == 0
    assert [e["who"] for e in events_by_pid(tmp_path)[child_pid]] == ["child"]


def test_spooled_events_survive_kill_9_and_the_next_process_sends_them(
    tmp_path: Path, make_logger: Callable[..., KinesisLogger]
) -> None:
    spool = tmp_path / "spool"
    proc, _ = start(
        script(
            f"""
            class Down:
                def put_record_batch(self, **kwargs):
                    raise ConnectionError("network unreachable")

            log = KinesisLogger("s", client=Down(), spool_dir={str(spool)!r},
                                retry=RetryPolicy(base_delay=0.001, max_delay=0.002, budget=0.05))
            for i in range(40):
                log.info(i=i)
            assert log.flush(timeout=20)
            assert log.stats.spooled == 40, log.stats
            print("ready", flush=True)
            threading.Event().wait()
            """
        ),
        tmp_path,
    )
    proc.kill()  # SIGKILL: no atexit, no close, no unlock but the kernel's
    assert proc.wait(30) == -signal.SIGKILL
    fake = FakeFirehose()
    make_logger(fake, spool_dir=spool)
    assert fake.wait_for_events(40, timeout=20)
    assert Counter(e["i"] for e in fake.events()) == Counter(range(40))
