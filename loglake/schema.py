"""THE record schema.

One definition from which validation, the Arrow schema, the Glue columns and the Athena/DuckDB DDL are
derived. Change a field here and every stage follows.

A *record* in memory is a ``dict`` keyed by field name holding only non-null values, with ``timestamp`` as
integer milliseconds since the epoch (UTC) and ``extra`` as a compact JSON string. On the wire between stages
(the NDJSON under ``raw/``) ``timestamp`` is ISO-8601 with milliseconds and ``Z``.

Example
-------
>>> rec = normalize({"timestamp": "2026-11-22T10:00:00Z", "service_name": "shop", "status_code": "200"})
>>> rec["status_code"], rec["timestamp"]
(200, 1795341600000)
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import orjson

from loglake.errors import RecordError

STRING: Final = "string"
INT32: Final = "int32"
INT64: Final = "int64"
DOUBLE: Final = "double"
TIMESTAMP: Final = "timestamp"

TRUNCATION_MARKER: Final = "…[truncated]"

#: The table every access-log record lands in.
TABLE_NAME: Final = "access_logs"
#: Hive partition keys, in path order. ``service_name`` is a partition key, not a stored column.
PARTITION_KEYS: Final = ("service_name", "year", "month", "day", "hour")

#: Key of the object in ``extra`` where the pipeline notes what it did to a record (filled, truncated).
PIPELINE_NOTE_KEY: Final = "_loglake"

_SERVICE_NAME_RE: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}")


@dataclass(frozen=True, slots=True)
class Field:
    """One column of the record."""

    name: str
    type: str
    doc: str
    required: bool = False
    max_length: int | None = None
    minimum: float | None = None
    maximum: float | None = None
    dictionary: bool = False


FIELDS: Final[tuple[Field, ...]] = (
    Field("request_id", STRING, "Unique id of the request; drives consistent sampling.", max_length=128),
    Field("timestamp", TIMESTAMP, "When the request was served (UTC, millisecond precision).", required=True),
    Field(
        "service_name",
        STRING,
        "The service that served the request; the first partition key.",
        required=True,
        max_length=64,
        dictionary=True,
    ),
    Field("method", STRING, "HTTP method.", max_length=16, dictionary=True),
    Field("path", STRING, "URL path, PII scrubbed.", max_length=2048),
    Field("query_params", STRING, "Raw query string, secret values redacted.", max_length=4096),
    Field("status_code", INT32, "HTTP status code.", minimum=0, maximum=999),
    Field("latency_ms", DOUBLE, "Time to serve the request, in milliseconds.", minimum=0),
    # The Parquet column is INT64: a larger size is refused here, with its reason, not at the converter.
    Field("bytes_sent", INT64, "Response size in bytes.", minimum=0, maximum=2**63 - 1),
    Field("user_id", STRING, "Keyed hash (HMAC-SHA256) of the user id; never the id itself.", max_length=128),
    Field("ip_address", STRING, "Client IP address (optionally truncated).", max_length=45),
    Field("user_agent", STRING, "User-Agent header.", max_length=1024, dictionary=True),
    Field("referer", STRING, "Referer header, PII scrubbed.", max_length=2048),
    Field("trace_id", STRING, "Distributed-trace id (X-Amzn-Trace-Id or traceparent).", max_length=256),
    Field("level", STRING, "Log level set by the client.", max_length=16, dictionary=True),
    Field(
        "sample_rate",
        DOUBLE,
        "Share of similar requests kept: each row stands for 1/sample_rate requests.",
        minimum=0,
        maximum=1,
    ),
    Field("extra", STRING, "Every other field the app sent, as a JSON object string.", max_length=16384),
)

FIELD_NAMES: Final = tuple(f.name for f in FIELDS)
FIELDS_BY_NAME: Final = {f.name: f for f in FIELDS}
#: Columns stored in the Parquet files (partition keys live in the path, not in the file).
STORED_FIELDS: Final = tuple(f for f in FIELDS if f.name not in PARTITION_KEYS)

_GLUE_TYPES: Final = {
    STRING: "string",
    INT32: "int",
    INT64: "bigint",
    DOUBLE: "double",
    TIMESTAMP: "timestamp",
}
_DUCKDB_TYPES: Final = {
    STRING: "VARCHAR",
    INT32: "INTEGER",
    INT64: "BIGINT",
    DOUBLE: "DOUBLE",
    TIMESTAMP: "TIMESTAMP WITH TIME ZONE",
}


# --------------------------------------------------------------------------- derived views of the schema


def arrow_schema() -> Any:
    """The explicit Arrow schema of the stored columns (no inference anywhere).

    Low-cardinality strings are dictionary-encoded; ``timestamp`` is ``timestamp[ms, tz=UTC]``.
    """
    import pyarrow as pa

    def arrow_type(f: Field) -> Any:
        if f.type == STRING:
            return pa.dictionary(pa.int32(), pa.string()) if f.dictionary else pa.string()
        return {
            INT32: pa.int32(),
            INT64: pa.int64(),
            DOUBLE: pa.float64(),
            TIMESTAMP: pa.timestamp("ms", tz="UTC"),
        }[f.type]

    return pa.schema(
        [pa.field(f.name, arrow_type(f), nullable=not f.required, metadata={"doc": f.doc}) for f in STORED_FIELDS]
    )


def glue_columns() -> list[dict[str, str]]:
    """Glue table columns (``Name``/``Type``/``Comment``) of the stored fields."""
    return [{"Name": f.name, "Type": _GLUE_TYPES[f.type], "Comment": f.doc} for f in STORED_FIELDS]


def glue_partition_keys() -> list[dict[str, str]]:
    """Glue partition keys; all strings, zero-padded where numeric so that they sort."""
    docs = {
        "service_name": "The service that served the request.",
        "year": "Event year, UTC (YYYY).",
        "month": "Event month, UTC (MM).",
        "day": "Event day, UTC (DD).",
        "hour": "Event hour, UTC (HH).",
    }
    return [{"Name": k, "Type": "string", "Comment": docs[k]} for k in PARTITION_KEYS]


def duckdb_columns() -> dict[str, str]:
    """Column name → DuckDB type of the stored fields."""
    return {f.name: _DUCKDB_TYPES[f.type] for f in STORED_FIELDS}


def athena_create_table_ddl(database: str, location: str) -> str:
    """``CREATE EXTERNAL TABLE`` for Athena, generated from the same fields as the Glue table."""
    cols = ",\n  ".join(f"`{c['Name']}` {c['Type']}" for c in glue_columns())
    parts = ", ".join(f"`{k['Name']}` {k['Type']}" for k in glue_partition_keys())
    return (
        f"CREATE EXTERNAL TABLE IF NOT EXISTS `{database}`.`{TABLE_NAME}` (\n  {cols}\n)\n"
        f"PARTITIONED BY ({parts})\nSTORED AS PARQUET\nLOCATION '{location}'"
    )


# --------------------------------------------------------------------------- timestamps


EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_MS: Final = timedelta(milliseconds=1)


def datetime_from_ms(ms: int) -> datetime:
    """Epoch ms → aware UTC datetime, in integer arithmetic (floats misplace hour and ms boundaries)."""
    return EPOCH + timedelta(milliseconds=ms)


def ms_from_datetime(dt: datetime) -> int:
    """Aware (or naive = UTC) datetime → epoch ms, truncating sub-millisecond digits."""
    return ((dt if dt.tzinfo else dt.replace(tzinfo=UTC)) - EPOCH) // _ONE_MS


def format_timestamp(ms: int) -> str:
    """Milliseconds since the epoch → ``2026-11-22T10:00:00.000Z``."""
    return datetime_from_ms(ms).strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


_MIN_MS: Final = 946_684_800_000  # 2000-01-01
_MAX_MS: Final = 4_102_444_800_000  # 2100-01-01


def parse_timestamp(value: Any) -> int:
    """Epoch seconds/milliseconds (number or digit string), ISO-8601 text or a datetime → epoch ms (UTC).

    Naive ISO-8601 text and naive datetimes are taken as UTC.
    """
    if isinstance(value, bool):
        raise RecordError(f"timestamp {value!r} is not a time; send ISO-8601 text or epoch milliseconds")
    if isinstance(value, int):
        # Seconds, milliseconds and microseconds since the epoch are told apart by magnitude.
        out = value * 1000 if abs(value) < 100_000_000_000 else value // 1000 if abs(value) >= 10**14 else value
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise RecordError(f"timestamp {value!r} is not a finite number")
        ms = value * 1000 if abs(value) < 1e11 else value / 1000 if abs(value) >= 1e14 else value
        out = math.floor(ms + 0.5)  # nearest ms: 1795341600.123 * 1000 is 1795341600122.9998 in binary
    elif isinstance(value, datetime):
        out = ms_from_datetime(value)  # exact integer arithmetic
    elif isinstance(value, str):
        text = value.strip()
        if text.isdigit() and text.isascii() and len(text) <= 20:  # "¹".isdigit() is true; int() refuses it
            return parse_timestamp(int(text))
        try:
            dt = datetime.fromisoformat(text)
        except ValueError:
            raise RecordError(
                f"timestamp {value[:64]!r} is not ISO-8601; send e.g. '2026-11-22T10:00:00.000Z' or epoch milliseconds"
            ) from None
        return parse_timestamp(dt)
    else:
        raise RecordError(f"timestamp must be text or a number, got {type(value).__name__}")
    if not _MIN_MS <= out < _MAX_MS:
        raise RecordError(f"timestamp {value!r} is outside 2000-01-01..2100-01-01; check its unit")
    return out


# --------------------------------------------------------------------------- validation


def _cut(field: Field, text: str, notes: dict[str, Any]) -> str:
    limit = field.max_length
    if limit is not None and len(text) > limit:
        notes.setdefault("truncated", []).append(field.name)
        return text[: limit - len(TRUNCATION_MARKER)] + TRUNCATION_MARKER
    return text


def _as_string(field: Field, value: Any, notes: dict[str, Any]) -> str:
    if isinstance(value, str):
        return _cut(field, value, notes)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return _cut(field, repr(value) if isinstance(value, float) else str(value), notes)
    raise RecordError(f"{field.name} must be text, got {type(value).__name__}")


def _check_range(field: Field, value: float) -> None:
    if (field.minimum is not None and value < field.minimum) or (field.maximum is not None and value > field.maximum):
        lo = "" if field.minimum is None else _bound(field.minimum)
        hi = "" if field.maximum is None else _bound(field.maximum)
        raise RecordError(f"{field.name} {value!r} is outside the allowed range [{lo}, {hi}]")


def _bound(value: float) -> str:
    return str(value) if isinstance(value, int) else f"{value:g}"


def _in_range(field: Field, value: float) -> bool:
    return (field.minimum is None or value >= field.minimum) and (field.maximum is None or value <= field.maximum)


def _as_int(field: Field, value: Any) -> int:
    if isinstance(value, bool):
        raise RecordError(f"{field.name} {value!r} is not an integer")
    if isinstance(value, int):
        out = value
    elif isinstance(value, float) and value.is_integer():
        out = int(value)
    elif (
        isinstance(value, str)
        and value.strip().lstrip("-").isdigit()
        and value.strip().isascii()
        and len(value.strip()) <= 40  # longer digit strings are out of every range (and int() refuses 4,300+)
    ):
        out = int(value.strip())
    elif isinstance(value, str) and value.strip().lstrip("-").isdigit() and value.strip().isascii():  # 41+ digits
        lo = "" if field.minimum is None else _bound(field.minimum)
        hi = "" if field.maximum is None else _bound(field.maximum)
        digits = len(value.strip().lstrip("-"))
        raise RecordError(f"{field.name} of {digits} digits is outside the allowed range [{lo}, {hi}]")
    else:
        shown = value[:64] if isinstance(value, str) else value
        raise RecordError(f"{field.name} {shown!r} is not an integer")
    _check_range(field, out)
    return out


def _as_double(field: Field, value: Any) -> float:
    if isinstance(value, bool):
        raise RecordError(f"{field.name} {value!r} is not a number")
    if isinstance(value, int | float | str):
        try:
            out = float(value)
        except (ValueError, OverflowError):  # OverflowError: an integer beyond the float range
            shown = value[:64] if isinstance(value, str) else value
            raise RecordError(f"{field.name} {shown!r} is not a number") from None
    else:
        raise RecordError(f"{field.name} must be a number, got {type(value).__name__}")
    if not math.isfinite(out):
        raise RecordError(f"{field.name} {value[:64] if isinstance(value, str) else value!r} is not a finite number")
    _check_range(field, out)
    return out


def validate_service_name(name: str) -> str:
    """Return ``name`` if it is safe as a partition value, else raise :class:`RecordError`."""
    if not _SERVICE_NAME_RE.fullmatch(name):
        raise RecordError(
            f"service_name {name[:80]!r} is not a valid name: use 1-64 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )
    return name


def _merge_notes(prior: Any, notes: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(prior) if isinstance(prior, dict) else {}
    for k, v in notes.items():
        old = merged.get(k)
        if isinstance(v, list) and isinstance(old, list) and all(isinstance(x, str) for x in old):
            merged[k] = sorted(set(old) | set(v))
        elif isinstance(v, list):
            merged[k] = sorted(set(v))
        else:
            merged[k] = v
    return merged


def _dumps_extra(base: Mapping[str, Any]) -> str:
    try:
        return orjson.dumps(base, default=str, option=orjson.OPT_SORT_KEYS).decode()
    except orjson.JSONEncodeError as exc:
        raise RecordError(
            f"the event's extra fields cannot be stored as JSON ({exc}); flatten deeply nested values"
        ) from None


def _fit_extra(base: dict[str, Any], limit: int) -> str:
    """Serialise ``extra``; when it is longer than ``limit``, cut its largest values (never the JSON itself).

    The result stays a JSON object: the largest values are replaced by cut text (non-strings by their cut
    JSON text) until the object fits, and ``_loglake.truncated`` names ``extra``. Should many small keys still
    not fit, the object becomes ``{"_loglake": …, "extra_cut": "<cut JSON text>"}``.
    """
    text = _dumps_extra(base)
    if len(text) <= limit:
        return text
    items = dict(base)
    items[PIPELINE_NOTE_KEY] = _merge_notes(items.get(PIPELINE_NOTE_KEY), {"truncated": ["extra"]})
    sizes = {k: len(_dumps_extra({"v": v})) for k, v in items.items() if k != PIPELINE_NOTE_KEY}
    for _ in range(8 * len(sizes) + 64):
        text = _dumps_extra(items)
        if len(text) <= limit or not sizes:
            break
        key = max(sizes, key=sizes.__getitem__)
        value = items[key]
        value_text = value if isinstance(value, str) else _dumps_extra({"v": value})[5:-1]
        if len(value_text) <= 64:
            break
        # Each cut character shortens the JSON by at least one, so one exact cut per value is enough.
        keep = max(32, len(value_text) - (len(text) - limit) - len(TRUNCATION_MARKER))
        items[key] = value_text[:keep] + TRUNCATION_MARKER
        sizes[key] = len(_dumps_extra({"v": items[key]}))
    if len(text) <= limit:
        return text
    budget = limit // 2
    while True:  # many small keys: keep the cut JSON text as one string; escaping can only grow it
        text = _dumps_extra(
            {PIPELINE_NOTE_KEY: items[PIPELINE_NOTE_KEY], "extra_cut": text[:budget] + TRUNCATION_MARKER}
        )
        if len(text) <= limit or budget <= 16:
            return text
        budget //= 2


def _merge_extra(current: Any, unknown: Mapping[str, Any], notes: dict[str, Any]) -> str | None:
    limit = FIELDS_BY_NAME["extra"].max_length or 16384
    if isinstance(current, str):
        if not unknown and not notes and len(current) <= limit:
            return current
        try:
            base = orjson.loads(current)
        except orjson.JSONDecodeError:
            base = {"extra": current}
        if not isinstance(base, dict):
            base = {"extra": base}
    elif isinstance(current, Mapping):
        base = dict(current)
    elif current is None:
        base = {}
    else:
        base = {"extra": current}
    base.update(unknown)
    if notes:
        base[PIPELINE_NOTE_KEY] = _merge_notes(base.get(PIPELINE_NOTE_KEY), notes)
    if not base:
        return None
    return _fit_extra(base, limit)


def extra_of(unknown: Mapping[str, Any], notes: dict[str, Any]) -> str | None:
    """What :func:`normalize` stores in ``extra`` for an event without an ``extra`` field: ``unknown`` are its
    fields outside the schema (in order), ``notes`` what normalising it noted (``{"filled": [...]}``)."""
    return _merge_extra(None, unknown, notes)


def normalize(
    raw: Mapping[str, Any],
    *,
    arrival_ms: int | None = None,
    default_service: str | None = None,
) -> dict[str, Any]:
    """Validate and coerce one event into a record.

    Coercion is lossless only (``"200"`` → 200); strings longer than their field's limit are cut with
    :data:`TRUNCATION_MARKER` (``extra`` stays a JSON object: its largest values are cut instead) and the
    cut fields are named in ``extra["_loglake"]["truncated"]``. Fields outside the schema go to ``extra``.
    A missing ``timestamp`` is filled from ``arrival_ms`` and a missing ``service_name`` from
    ``default_service``; each fill is noted in ``extra["_loglake"]["filled"]``.

    Raises
    ------
    RecordError
        With a reason a person can act on, e.g. ``status_code 'abc' is not an integer``.
    """
    if not isinstance(raw, Mapping):
        raise RecordError(f"an event must be a JSON object, got {type(raw).__name__}")
    rec: dict[str, Any] = {}
    unknown: dict[str, Any] = {}
    notes: dict[str, Any] = {}
    extra_in: Any = None
    for key, value in raw.items():
        field = FIELDS_BY_NAME.get(key)
        if field is None:
            unknown[key] = value
            continue
        if value is None:
            continue
        if key == "extra":
            extra_in = value
            continue
        kind = field.type
        if kind == STRING:
            # The common case first (text within its limit): no call; the helpers coerce and cut the rest.
            if type(value) is str and (field.max_length is None or len(value) <= field.max_length):
                rec[key] = value
            else:
                rec[key] = _as_string(field, value, notes)
        elif kind == TIMESTAMP:
            rec[key] = parse_timestamp(value)
        elif kind == DOUBLE:
            rec[key] = _as_double(field, value)
        elif type(value) is int and _in_range(field, value):
            rec[key] = value
        else:
            rec[key] = _as_int(field, value)

    if "timestamp" not in rec:
        if arrival_ms is None:
            raise RecordError("timestamp is missing; add an ISO-8601 'timestamp' to the event")
        rec["timestamp"] = parse_timestamp(arrival_ms)
        notes.setdefault("filled", []).append("timestamp")
    if not rec.get("service_name"):
        if not default_service:
            raise RecordError("service_name is missing; set it in the event or a default service for the stream")
        rec["service_name"] = default_service
        notes.setdefault("filled", []).append("service_name")
    validate_service_name(rec["service_name"])

    extra = _merge_extra(extra_in, unknown, notes)
    if extra is not None:
        rec["extra"] = extra
    return rec


def to_json_dict(record: Mapping[str, Any]) -> dict[str, Any]:
    """A record as it travels in NDJSON: ``timestamp`` as ISO-8601 text, everything else unchanged."""
    out = dict(record)
    out["timestamp"] = format_timestamp(record["timestamp"])
    return out


def to_json_line(record: Mapping[str, Any]) -> bytes:
    """One NDJSON line (with its newline) for a record."""
    return orjson.dumps(to_json_dict(record)) + b"\n"
