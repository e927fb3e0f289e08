"""The compactor: merges a closed hour's small Parquet files into few large ones, correct while people query.

Layout. The converter writes into the partition's *base* folder, which the autoloader registers as the
partition's location. Compacted *generations* are written outside it, under a hidden (``_``) folder of the
table, so that no reader of the base location — Athena reads every object under a LOCATION prefix, DuckDB
reads ``<location>*.parquet`` — ever sees a generation's files, and no reader of a generation sees base files::

    tables/access_logs/service_name=S/year=Y/month=M/day=D/hour=H/part-<from the converter>.parquet
    tables/access_logs/_compacted/service_name=S/year=Y/month=M/day=D/hour=H/gen-<UTC time>-<hash>/
        part-00000.parquet …                    the merged rows, sorted by timestamp
        _manifest.json                          written last: the files, and every base file folded in

One run, for every registered partition whose hour closed more than the grace period ago and lies within the
look-back window, oldest first:

1. *plan* — if the partition is live on its base folder and that holds more than one file, merge them; if it
   is live on a generation, fold in the *late* base files (written by the converter after compaction; they
   are not visible until then) — a base file whose name the live manifest already lists is a redelivered
   duplicate and is never merged again;
2. *write* the new generation (inputs packed into files of about the target size; a file already that big
   is copied, not rewritten), its manifest last;
3. *switch* — one catalog call, ``ALTER TABLE … PARTITION (…) SET LOCATION '<generation>/'`` (the same call
   on the local DuckDB catalog). Before it, the base folder is listed again: a file that arrived since the
   plan defers the switch to the next run, so that a visible row never disappears;
4. *collect* — objects no longer referenced (older generations, base files folded into the live one) are
   deleted once the live generation is older than the deletion delay, so a query that started before the
   switch can still read them.

A query therefore never sees a row twice and never misses a visible one. A crash between steps leaves an
unreferenced generation (deleted after the delay) or unreferenced files (collected by a later run); a rerun
plans again from what is there, so it is harmless. Late files become visible at the next run after they land
(at most one schedule interval). The converter's event-time window bounds how late a file can land in an
hour (see :mod:`loglake.convert`), and the default look-back (17 days) covers that window plus SQS's 14-day
retention of a redriven message; run the compactor with a longer ``lookback_hours`` after an older replay.

Example
-------
>>> compactor = Compactor(storage, catalog, options=CompactOptions())  # doctest: +SKIP
>>> compactor.run(now_ms).counters()["PartitionsCompacted"]  # doctest: +SKIP
12
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

import orjson

from loglake.catalog import AthenaCatalog, Catalog
from loglake.errors import LoglakeError, PartitionKeyError, RecordError
from loglake.generations import (
    COMPACTED_DIR,
    MANIFEST_NAME,
    Manifest,
    generation_created_ms,
    generation_name,
    generations_root,
    is_data_name,
)
from loglake.merge import merge_files, pack, parquet_rows
from loglake.partitions import Partition, hour_start_ms
from loglake.schema import TABLE_NAME, format_timestamp, parse_timestamp
from loglake.storage import ObjectInfo, Storage

logger = logging.getLogger(__name__)

HOUR_MS: Final = 3_600_000
MB: Final = 1024 * 1024
#: Stop starting partitions when less than this is left of the invocation's time.
SAFETY_MS: Final = 120_000


class CompactionError(LoglakeError):
    """A generation could not be written or verified; the partition stays as it was."""


@dataclass(frozen=True)
class CompactOptions:
    """When and how partitions are compacted (see :class:`loglake.settings.Settings` for the variables)."""

    grace_ms: int = 60 * 60_000
    lookback_ms: int = 408 * HOUR_MS
    target_bytes: int = 256 * MB
    delete_delay_ms: int = 360 * 60_000
    #: Files at least this share of the target are copied into a new generation, not rewritten.
    full_fraction: float = 0.75

    @classmethod
    def from_settings(cls, settings: Any, **overrides: Any) -> CompactOptions:
        values = {
            "grace_ms": int(settings.compact_grace_minutes * 60_000),
            "lookback_ms": int(settings.compact_lookback_hours * HOUR_MS),
            "target_bytes": int(settings.compact_target_mb * MB),
            "delete_delay_ms": int(settings.compact_delete_delay_minutes * 60_000),
        }
        return cls(**(values | overrides))


@dataclass(frozen=True)
class CompactionRequest:
    """One run's clock and option overrides, read from its event."""

    now_ms: int
    overrides: dict[str, int] = field(default_factory=dict)

    @property
    def now_iso(self) -> str:
        return format_timestamp(self.now_ms)


def compaction_request(event: Mapping[str, Any] | None, *, clock: Callable[[], float] = time.time) -> CompactionRequest:
    """The run's ``now`` and overrides from its invocation event.

    - an EventBridge *Scheduled Event*: ``now`` is its ``time``, so a retried invocation plans identically;
    - a manual invocation may give ``{"now": "2026-11-22T10:00:00Z", "lookback_hours": 720}`` (both optional),
      e.g. to fold in files a replay wrote to hours older than the usual look-back;
    - otherwise ``now`` is the wall clock.

    >>> compaction_request({"detail-type": "Scheduled Event", "time": "2026-11-22T10:00:00Z"}).now_iso
    '2026-11-22T10:00:00.000Z'
    """
    event = event or {}
    when = event.get("time") if event.get("detail-type") == "Scheduled Event" else event.get("now")
    try:
        now_ms = parse_timestamp(when) if when is not None else int(clock() * 1000)
    except RecordError as exc:
        raise CompactionError(f"compactor event: {exc}") from None
    overrides: dict[str, int] = {}
    lookback = event.get("lookback_hours")
    if lookback is not None:
        if isinstance(lookback, bool) or not isinstance(lookback, int | float) or not 0 <= lookback <= 24 * 366 * 8:
            raise CompactionError(f"compactor event: lookback_hours {lookback!r} must be a number of hours >= 0")
        overrides["lookback_ms"] = int(lookback * HOUR_MS)
    return CompactionRequest(now_ms, overrides)


# --------------------------------------------------------------------------- state and plans


@dataclass
class PartitionState:
    """What is in storage and the catalog for one partition."""

    partition: Partition
    location: str
    base: list[ObjectInfo]  # visible data files directly in the base folder
    generations: dict[str, list[ObjectInfo]]  # name → every object under it
    live: str | None = None  # the live generation's name; None when the base folder is live
    unknown: bool = False  # the location is neither: leave the partition alone
    cached_manifest: Manifest | None = None

    @property
    def base_prefix(self) -> str:
        return self.partition.prefix


@dataclass
class Plan:
    """One new generation for one partition."""

    state: PartitionState
    generation: str
    prefix: str
    inputs: list[ObjectInfo]
    bins: list[list[str]]
    sources: dict[str, int]
    late: int
    bytes_out: int = 0


@dataclass
class CompactionReport:
    """What a run did; :meth:`counters` are the compactor's metrics."""

    checked: int = 0
    compacted: list[str] = field(default_factory=list)  # new locations
    deferred: int = 0
    skipped: int = 0
    files_in: int = 0
    files_out: int = 0
    late_files: int = 0
    rows: int = 0
    bytes_in: int = 0
    bytes_out: int = 0
    deleted: int = 0
    errors: int = 0

    def counters(self) -> dict[str, int]:
        return {
            "PartitionsChecked": self.checked,
            "PartitionsCompacted": len(self.compacted),
            "PartitionsDeferred": self.deferred,
            "PartitionsSkipped": self.skipped,
            "FilesIn": self.files_in,
            "FilesOut": self.files_out,
            "LateFiles": self.late_files,
            "RowsCompacted": self.rows,
            "BytesIn": self.bytes_in,
            "BytesOut": self.bytes_out,
            "ObjectsDeleted": self.deleted,
            "Errors": self.errors,
        }


class Compactor:
    """Compacts closed partitions; see the module documentation for the protocol.

    ``glue_client`` is only used with an :class:`~loglake.catalog.AthenaCatalog`, to list the partitions of the
    look-back window with a server-side filter instead of reading the whole table's partitions.
    """

    def __init__(
        self,
        storage: Storage,
        catalog: Catalog,
        *,
        table: str = TABLE_NAME,
        options: CompactOptions | None = None,
        glue_client: Any = None,
    ) -> None:
        self.storage = storage
        self.catalog = catalog
        self.table = table
        self.options = options or CompactOptions()
        self._glue = glue_client

    # ----------------------------------------------------------------------- the run

    def run(self, now_ms: int, *, remaining_ms: Callable[[], int] | None = None) -> CompactionReport:
        """Plan, write, switch and collect every candidate partition, oldest first.

        Parameters
        ----------
        now_ms
            The run's clock (the schedule's time): decides which hours are closed and what is old enough
            to delete, so that a retried run does exactly the same.
        remaining_ms
            The invocation's remaining time (``context.get_remaining_time_in_millis``): no partition is
            started with less than :data:`SAFETY_MS` left; the rest are counted as deferred.

        Returns
        -------
        CompactionReport
            What was compacted, deferred, skipped and deleted. A partition that fails is logged, counted in
            ``errors`` and left as it was; the others go on.

        Example
        -------
        >>> Compactor(storage, catalog).run(1_795_352_400_000).counters()["Errors"]  # doctest: +SKIP
        0
        """
        report = CompactionReport()
        candidates = self.candidates(now_ms)
        for state in self.states(candidates):
            if remaining_ms is not None and remaining_ms() < SAFETY_MS:
                report.deferred += 1
                continue
            report.checked += 1
            try:
                self.compact_partition(state, now_ms, report)
            except Exception:
                report.errors += 1
                logger.exception("compacting %s failed; it stays as it was", state.partition.prefix)
        return report

    def compact_partition(self, state: PartitionState, now_ms: int, report: CompactionReport) -> None:
        """Plan, write, switch and collect one partition, adding what it did to ``report``."""
        if state.unknown:
            report.skipped += 1
            logger.warning(
                "not compacting %s: its location %s is not one this compactor wrote", state.base_prefix, state.location
            )
            return
        plan = self.plan(state, now_ms)
        if plan is not None:
            manifest = self.write(plan, now_ms)
            if self.switch(plan):
                report.compacted.append(self.storage.location(plan.prefix))
                report.files_in += len(plan.inputs)
                report.files_out += len(manifest.files)
                report.late_files += plan.late
                report.rows += manifest.rows
                report.bytes_in += sum(o.size for o in plan.inputs)
                report.bytes_out += plan.bytes_out
                state.live, state.cached_manifest = plan.generation, manifest
                state.generations.setdefault(plan.generation, [])
            else:
                report.deferred += 1
        report.deleted += self.collect(state, now_ms)

    # ----------------------------------------------------------------------- discovery

    def window(self, now_ms: int) -> tuple[int, int]:
        """First and last hour start (epoch ms) a run at ``now_ms`` compacts."""
        last = now_ms - self.options.grace_ms - HOUR_MS
        last -= last % HOUR_MS
        first = now_ms - self.options.lookback_ms
        first -= first % HOUR_MS
        return first, last

    def candidates(self, now_ms: int) -> dict[Partition, str]:
        """Registered partitions of the table whose hour is inside the window, with their locations."""
        first, last = self.window(now_ms)
        if last < first:
            return {}
        if isinstance(self.catalog, AthenaCatalog):
            found = self._glue_partitions(first, last)
        else:
            found = self.catalog.partitions(self.table)
        return {p: loc for p, loc in found.items() if first <= hour_start_ms(p) <= last}

    def _glue_partitions(self, first: int, last: int) -> dict[Partition, str]:
        if self._glue is None:
            import boto3

            self._glue = boto3.client("glue")
        assert isinstance(self.catalog, AthenaCatalog)
        out: dict[Partition, str] = {}
        days = sorted({datetime.fromtimestamp(t / 1000, tz=UTC).date() for t in range(first, last + 1, HOUR_MS)})
        paginator = self._glue.get_paginator("get_partitions")
        for day in days:
            # Values come from dates, never from input: safe in the expression.
            expression = f"year = '{day:%Y}' AND month = '{day:%m}' AND day = '{day:%d}'"
            for page in paginator.paginate(
                DatabaseName=self.catalog.database, TableName=self.table, Expression=expression
            ):
                for p in page["Partitions"]:
                    try:
                        out[Partition(self.table, tuple(p["Values"]))] = p["StorageDescriptor"]["Location"]
                    except PartitionKeyError as exc:  # registered by hand? never turned into a path or SQL
                        logger.warning("ignoring partition %s: %s", p["Values"], exc)
        return out

    def states(self, candidates: dict[Partition, str]) -> list[PartitionState]:
        """List the base and generation folders (one listing per service and day) → per-partition states."""
        by_day: dict[tuple[str, ...], list[Partition]] = {}
        for p in candidates:
            by_day.setdefault(p.values[:-1], []).append(p)
        states: list[PartitionState] = []
        for partitions in by_day.values():
            sample = partitions[0]
            day_base = sample.prefix.rsplit("/", 2)[0] + "/"
            day_gens = generations_root(sample).rsplit("/", 2)[0] + "/"
            base: dict[str, list[ObjectInfo]] = {}
            for obj in self.storage.list(day_base):
                hour, _, name = obj.key[len(day_base) :].partition("/")
                if "/" not in name and is_data_name(name):
                    base.setdefault(hour, []).append(obj)
            gens: dict[str, dict[str, list[ObjectInfo]]] = {}
            for obj in self.storage.list(day_gens):
                hour, _, rest = obj.key[len(day_gens) :].partition("/")
                gen, sep, _ = rest.partition("/")
                if sep:
                    gens.setdefault(hour, {}).setdefault(gen, []).append(obj)
            for p in partitions:
                hour = p.prefix.rstrip("/").rsplit("/", 1)[-1]
                state = PartitionState(p, candidates[p], base.get(hour, []), gens.get(hour, {}))
                self._resolve_live(state)
                states.append(state)
        return sorted(states, key=lambda s: (hour_start_ms(s.partition), s.partition.values))

    def _resolve_live(self, state: PartitionState) -> None:
        key = self._key_of(state.location)
        if key == state.base_prefix:
            return
        root = generations_root(state.partition)
        if key is not None and key.startswith(root) and key.count("/") == root.count("/") + 1:
            name = key[len(root) :].rstrip("/")
            if generation_created_ms(name) is not None:
                state.live = name
                return
        state.unknown = True

    def _key_of(self, location: str) -> str | None:
        base = self.storage.uri.rstrip("/") + "/"
        return location[len(base) :] if location.startswith(base) else None

    # ----------------------------------------------------------------------- the four steps

    def manifest(self, state: PartitionState) -> Manifest:
        """The live generation's manifest (raises CompactionError if it is missing: then nothing is safe)."""
        assert state.live is not None
        if state.cached_manifest is not None and state.cached_manifest.generation == state.live:
            return state.cached_manifest
        key = f"{generations_root(state.partition)}{state.live}/{MANIFEST_NAME}"
        try:
            state.cached_manifest = Manifest.from_bytes(self.storage.get(key))
        except (LoglakeError, orjson.JSONDecodeError, TypeError) as exc:
            raise CompactionError(f"live generation {key} has no readable manifest ({exc}); fix or reset it") from exc
        return state.cached_manifest

    def plan(self, state: PartitionState, now_ms: int) -> Plan | None:
        """The next generation for a partition, or None when there is nothing to merge."""
        if state.live is None:
            if len(state.base) < 2:
                return None
            inputs = sorted(state.base, key=lambda o: o.key)
            sources = {_name(o.key): o.size for o in inputs}
            late = 0
        else:
            if not state.base:
                return None
            manifest = self.manifest(state)
            late_files = [o for o in state.base if _name(o.key) not in manifest.sources]
            for o in state.base:
                if _name(o.key) in manifest.sources and manifest.sources[_name(o.key)] != o.size:
                    logger.warning("%s was folded in with another size; treating it as a redelivered copy", o.key)
            if not late_files:
                return None
            live_files = {o.key: o for o in state.generations.get(state.live, [])}
            prefix = f"{generations_root(state.partition)}{state.live}/"
            missing = [name for name in manifest.files if prefix + name not in live_files]
            if missing:
                raise CompactionError(f"live generation {prefix} lacks {missing[:3]}; it must not be replaced")
            inputs = sorted([live_files[prefix + n] for n in manifest.files] + late_files, key=lambda o: o.key)
            sources = manifest.sources | {_name(o.key): o.size for o in late_files}
            late = len(late_files)
        generation = generation_name(now_ms, [(o.key, o.size) for o in inputs])
        target = self.options.target_bytes
        bins = pack([(o.key, o.size) for o in inputs], target=target, full=int(target * self.options.full_fraction))
        prefix = f"{generations_root(state.partition)}{generation}/"
        return Plan(state, generation, prefix, inputs, bins, sources, late)

    def write(self, plan: Plan, now_ms: int) -> Manifest:
        """Write the generation's files, verify the row count, then its manifest (last)."""
        files: dict[str, int] = {}
        rows_in = 0
        for i, keys in enumerate(plan.bins):
            name = f"part-{i:05d}.parquet"
            datas = [self.storage.get(k) for k in keys]
            if len(datas) == 1:  # big enough, or alone: copied as it is
                data, rows, n_in = datas[0], parquet_rows(datas[0]), parquet_rows(datas[0])
            else:
                merged = merge_files(datas)
                data, rows, n_in = merged.data, merged.rows, merged.rows_in
            if rows != n_in:
                raise CompactionError(f"merging {keys[:3]}… gave {rows} rows from {n_in}; nothing switched")
            self.storage.put(plan.prefix + name, data)
            files[name] = rows
            rows_in += n_in
            plan.bytes_out += len(data)
        manifest = Manifest(
            generation=plan.generation,
            partition=plan.state.partition.spec,
            created_ms=now_ms,
            files=files,
            sources=plan.sources,
            inputs=[o.key for o in plan.inputs],
            previous=plan.state.location,
            rows=rows_in,
        )
        self.storage.put(plan.prefix + MANIFEST_NAME, manifest.to_bytes())
        return manifest

    def switch(self, plan: Plan) -> bool:
        """Point the partition at the new generation, unless a visible file arrived since the plan."""
        state = plan.state
        if state.live is None:
            planned = {o.key for o in plan.inputs}
            arrived = [
                o.key
                for o in self.storage.list(state.base_prefix)
                if "/" not in o.key[len(state.base_prefix) :] and is_data_name(_name(o.key)) and o.key not in planned
            ]
            if arrived:
                logger.info("deferring %s: %d file(s) arrived while it was merged", state.base_prefix, len(arrived))
                return False
        self.catalog.set_partition_location(state.partition, self.storage.location(plan.prefix))
        return True

    def collect(self, state: PartitionState, now_ms: int) -> int:
        """Delete what no reader can be using any more; returns the number of objects deleted."""
        delay = self.options.delete_delay_ms
        live_created = generation_created_ms(state.live) if state.live else None
        doomed: list[str] = []
        for name, objects in state.generations.items():
            if name == state.live:
                continue
            created = generation_created_ms(name) or 0
            if max(created, live_created or 0) + delay <= now_ms:
                doomed.extend(o.key for o in objects)
        if state.live is not None and live_created is not None and live_created + delay <= now_ms and state.base:
            folded = self.manifest(state).sources
            doomed.extend(o.key for o in state.base if _name(o.key) in folded)
        if doomed:
            self.storage.delete(sorted(doomed))
            logger.info("deleted %d replaced objects of %s", len(doomed), state.partition.prefix)
        return len(doomed)


def _name(key: str) -> str:
    return key.rsplit("/", 1)[-1]


__all__ = [
    "COMPACTED_DIR",
    "MANIFEST_NAME",
    "CompactOptions",
    "CompactionError",
    "CompactionReport",
    "CompactionRequest",
    "Compactor",
    "Manifest",
    "PartitionState",
    "Plan",
    "compaction_request",
    "generation_created_ms",
    "generation_name",
    "generations_root",
]
