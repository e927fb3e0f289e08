"""The worker's side of delivery: PutRecordBatch calls, partial-failure retries, spooling and replay.

Everything here runs in the logger's worker thread (or, for :meth:`Sender.give_up`, in the thread closing a
logger whose worker is stuck), never in the application's request path.
"""

from __future__ import annotations

import contextlib
import threading
import time
import warnings
from collections.abc import Callable, Generator, Sequence
from typing import Any

from loglake_client._errors import DeliveryWarning
from loglake_client._packing import (
    MAX_BYTES_PER_CALL,
    MAX_RECORDS_PER_CALL,
    Record,
    billed_bytes,
    split_calls,
)
from loglake_client._retry import RetryPolicy, error_code, is_retryable
from loglake_client._spool import Spool, read_entries
from loglake_client._stats import Counters

#: Least seconds between two replays of the spool after a replay could not deliver everything.
REPLAY_RETRY_INTERVAL = 30.0


class Warner:
    """Issues :class:`DeliveryWarning`, at most once per ``interval`` seconds per kind, with counts."""

    def __init__(self, interval: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.interval = interval
        self._clock = clock
        self._last: dict[str, float] = {}
        self._pending: dict[str, int] = {}

    def note(self, kind: str, count: int, message: str) -> None:
        """Count ``count`` of trouble ``kind``; warn now unless one was issued within ``interval``.

        ``message`` may use ``{n}``, the count accumulated since the last warning of this kind.
        """
        self._pending[kind] = self._pending.get(kind, 0) + count
        now = self._clock()
        last = self._last.get(kind)
        if last is not None and now - last < self.interval:
            return
        total = self._pending.pop(kind)
        self._last[kind] = now
        # Warnings turned into errors (-W error) must not kill the worker.
        with contextlib.suppress(Exception):
            warnings.warn("loglake-client: " + message.format(n=total), DeliveryWarning, stacklevel=2)


class Sender:
    """Sends records with PutRecordBatch, resending only the failed ones, within a bounded time.

    Parameters
    ----------
    get_client:
        Returns the Firehose client (created lazily on first use).
    stream_name:
        The delivery stream.
    retry:
        Backoff and budget of retries.
    counters:
        The logger's counters, updated here.
    spool:
        Where records go when they cannot be delivered (``None``: they are counted as failed).
    deadline:
        Returns the monotonic time by which sending must stop (shutdown), or ``None``.
    interrupt:
        Set to cut a backoff wait short (shutdown); the wait then re-checks the deadline.
    """

    def __init__(
        self,
        *,
        get_client: Callable[[], Any],
        stream_name: str,
        retry: RetryPolicy,
        counters: Counters,
        spool: Spool | None,
        warner: Warner,
        deadline: Callable[[], float | None],
        interrupt: threading.Event,
        clock: Callable[[], float] = time.monotonic,
        max_call_records: int = MAX_RECORDS_PER_CALL,
        max_call_bytes: int = MAX_BYTES_PER_CALL,
    ) -> None:
        self.get_client = get_client
        self.stream_name = stream_name
        self.retry = retry
        self.c = counters
        self.spool = spool
        self.warner = warner
        self.deadline = deadline
        self.interrupt = interrupt
        self.clock = clock
        self.max_call_records = max_call_records
        self.max_call_bytes = max_call_bytes
        #: After a call exhausted its retry budget, further calls get one attempt each until one succeeds, so
        #: that an outage moves events to the spool at the rate they come instead of backing the queue up.
        self.degraded = False
        #: Set when records were spooled since the last replay: once delivery works again they are replayed.
        self.spooled_since_replay = False
        #: Set when spooled records should be replayed as soon as the queue leaves time for it.
        self.replay_wanted = spool is not None
        self.next_replay_at = 0.0

    # ------------------------------------------------------------------ one call, with retries
    def deliver(self, records: Sequence[Record], *, replay: bool = False) -> tuple[list[Record], str]:
        """Send one call's worth of records; return those not accepted when retrying had to stop, and why.

        Accepted records are never sent again: after a partial failure only the records whose answer carries
        an ``ErrorCode`` are resent. A call that raised (timeout, connection reset) is resent whole, since
        Firehose may or may not have taken it: delivery is at-least-once.
        """
        pending = list(records)
        started = self.clock()
        attempt = 0
        max_attempts = 1 if self.degraded else self.retry.max_attempts
        while True:
            failed, retryable, reason = self._attempt(pending, replay=replay)
            if not failed:
                if self.degraded:
                    self.degraded = False
                return [], ""
            attempt += 1
            if not retryable:
                return failed, reason
            delay = self.retry.delay(attempt - 1)
            now = self.clock()
            limit = started + self.retry.budget
            shutdown = self.deadline()
            if shutdown is not None:
                limit = min(limit, shutdown)
            if (max_attempts is not None and attempt >= max_attempts) or now + delay > limit:
                if not self.degraded and (max_attempts is None or max_attempts > 1):
                    self.degraded = True
                return failed, f"{reason}; gave up after {attempt} attempt(s)"
            self.c.retried += _events(failed)
            self._wait(delay)
            pending = failed

    def _attempt(self, records: list[Record], *, replay: bool) -> tuple[list[Record], bool, str]:
        """One PutRecordBatch call: (records not accepted, whether retrying may help, why)."""
        self.c.api_calls += 1
        try:
            response = self.get_client().put_record_batch(
                DeliveryStreamName=self.stream_name, Records=[{"Data": r.data} for r in records]
            )
        except Exception as exc:
            code = error_code(exc)
            reason = f"{code or type(exc).__name__}: {exc}"
            return records, is_retryable(exc), reason
        answers = response.get("RequestResponses") if isinstance(response, dict) else None
        failed_count = response.get("FailedPutCount", 0) if isinstance(response, dict) else 0
        if not isinstance(answers, list):
            answers = []
        failed: list[Record] = []
        codes: set[str] = set()
        for i, rec in enumerate(records):
            answer = answers[i] if i < len(answers) else None
            if isinstance(answer, dict) and answer.get("ErrorCode"):
                failed.append(rec)
                codes.add(str(answer["ErrorCode"]))
            elif answer is None and failed_count:
                # A short answer list with failures reported: resend what we cannot prove was accepted.
                failed.append(rec)
                codes.add("missing answer")
            else:
                self._accepted(rec, replay=replay)
        return failed, True, ", ".join(sorted(codes))

    def _accepted(self, rec: Record, *, replay: bool) -> None:
        c = self.c
        if replay:
            c.replayed += rec.events
        else:
            c.sent += rec.events
        c.records += 1
        c.payload_bytes += len(rec.data)
        c.billed_bytes += billed_bytes(len(rec.data))

    def _wait(self, delay: float) -> None:
        end = self.clock() + delay
        while True:
            remaining = end - self.clock()
            if remaining <= 0:
                return
            if self.interrupt.wait(remaining):
                self.interrupt.clear()
                shutdown = self.deadline()
                if shutdown is not None and self.clock() >= shutdown:
                    return

    # ------------------------------------------------------------------ batches and giving up
    def send(self, records: Sequence[Record]) -> None:
        """Deliver records (split into calls within the API limits); spool or count what cannot be sent."""
        for call in split_calls(records, max_records=self.max_call_records, max_bytes=self.max_call_bytes):
            shutdown = self.deadline()
            if shutdown is not None and self.clock() >= shutdown:
                self.give_up(call, "shutting down")  # out of time: straight to the spool
                continue
            failed, reason = self.deliver(call)
            if failed:
                self.give_up(failed, reason)
            elif self.spooled_since_replay and self.spool is not None and self.clock() >= self.next_replay_at:
                self.spool.rotate()  # delivery works again: let the replay pick up what we spooled
                self.spooled_since_replay = False
                self.replay_wanted = True

    def give_up(self, records: Sequence[Record], reason: str) -> None:
        """Spool records (with a spool) or count them as failed; warn (rate-limited) either way."""
        total = _events(records)
        if not total:
            return
        written = 0
        if self.spool is not None:
            try:
                written, evicted = self.spool.append(records)
            except OSError as exc:
                reason = f"{reason}; spool write failed: {exc}"
                written, evicted = 0, 0
            if evicted:
                self.c.spool_evicted += evicted
                self.warner.note("evicted", evicted, "{n} spooled event(s) evicted unsent from the full spool")
            if written:
                self.c.spooled += written
                self.spooled_since_replay = True
                self.warner.note("spooled", written, "{n} event(s) spooled, not delivered yet: " + _brace(reason))
        if total > written:
            self.c.failed += total - written
            where = "the spool is full" if self.spool is not None else "no spool_dir"
            self.warner.note("failed", total - written, f"{{n}} event(s) lost ({where}): " + _brace(reason))

    # ------------------------------------------------------------------ replaying the spool
    def replay(self) -> Generator[None, None, None]:
        """Resend spooled records, one call per step (the caller interleaves steps with fresh batches).

        Stops at the first call that cannot be delivered, leaving the rest (and an acknowledged offset) in
        place for later. Claimed segments stay locked until their step finishes or the generator is closed.
        """
        if self.spool is None:
            return
        for seg in self.spool.claim():
            try:
                data = seg.read()
                start = seg.read_ack()
                entries = list(read_entries(data, start))
                damaged = len(data) - start - sum(end - off for off, end, _ in entries)
                if damaged > 0:
                    self.warner.note("corrupt", damaged, "{n} damaged spool byte(s) skipped (their events are lost)")
                chunks = _chunks(entries, self.max_call_records, self.max_call_bytes)
                if not chunks:
                    seg.remove()
                for n, chunk in enumerate(chunks, 1):
                    records = [Record(p, p.count(b"\n")) for _, _, p in chunk]
                    failed, reason = self.deliver(records, replay=True)
                    if failed:
                        self.warner.note(
                            "replay",
                            _events(failed),
                            "{n} spooled event(s) kept for a later replay: " + _brace(reason),
                        )
                        self.spooled_since_replay = True  # try again once delivery works,
                        self.next_replay_at = self.clock() + REPLAY_RETRY_INTERVAL  # but not at once
                        first = next(i for i, r in enumerate(records) if any(r is f for f in failed))
                        seg.ack(chunk[first][0])
                        return
                    if n == len(chunks):
                        seg.remove()  # before yielding: a step never leaves a fully sent segment behind
                    else:
                        seg.ack(chunk[-1][1])
                    yield
            finally:
                seg.release()


def _chunks(
    entries: list[tuple[int, int, bytes]], max_records: int, max_bytes: int
) -> list[list[tuple[int, int, bytes]]]:
    """Spool entries grouped, in order, into calls within the API limits."""
    chunks: list[list[tuple[int, int, bytes]]] = []
    size = 0
    for entry in entries:
        n = len(entry[2])
        if not chunks or len(chunks[-1]) >= max_records or size + n > max_bytes:
            chunks.append([])
            size = 0
        chunks[-1].append(entry)
        size += n
    return chunks


def _brace(text: str) -> str:
    return text.replace("{", "{{").replace("}", "}}")


def _events(records: Sequence[Record]) -> int:
    return sum(r.events for r in records)
