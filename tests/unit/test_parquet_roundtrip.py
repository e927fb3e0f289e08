"""The Parquet files themselves, and the schema round trip JSON → converter → Parquet → read back."""

from __future__ import annotations

import gzip
import io
import random
from datetime import UTC, datetime
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from loglake.convert import ConvertOptions, arrival_ms, convert_object, output_stem
from loglake.parquet import ROW_GROUP_ROWS, STORED_SCHEMA, read_parquet, records_to_table, table_to_parquet
from loglake.partitions import parse_key
from loglake.schema import FIELDS_BY_NAME, normalize, to_json_line
from tests.memory_storage import MemoryStorage

BASE_MS = 1_795_341_600_000  # 2026-11-22T10:00:00Z
NO_WINDOW = ConvertOptions(max_age_ms=0, max_future_ms=0)


def test_files_are_zstd_with_statistics_dictionaries_and_sorted_rows() -> None:
    records = [
        {
            "timestamp": BASE_MS + (7 - i) * 1000,
            "service_name": "shop",
            "method": "GET",
            "status_code": 200 + i,
            "request_id": f"r{i}",
        }
        for i in range(8)
    ]
    data = table_to_parquet(records_to_table(records))
    meta = pq.ParquetFile(io.BytesIO(data)).metadata
    columns = {meta.row_group(0).column(i).path_in_schema: meta.row_group(0).column(i) for i in range(meta.num_columns)}
    assert "service_name" not in columns  # a partition key lives in the path
    assert all(c.compression == "ZSTD" for c in columns.values())
    ts = columns["timestamp"].statistics
    assert ts.has_min_max and ts.min == datetime.fromtimestamp(BASE_MS / 1000, tz=UTC)
    assert columns["status_code"].statistics.has_min_max and columns["method"].statistics.has_min_max
    assert columns["request_id"].statistics is None  # ids and free text: min/max would prune nothing
    assert "RLE_DICTIONARY" in columns["method"].encodings or "PLAIN_DICTIONARY" in columns["method"].encodings
    table = read_parquet(data)
    assert table.schema == STORED_SCHEMA
    assert table.schema.field("timestamp").type == pa.timestamp("ms", tz="UTC")
    assert pa.types.is_dictionary(table.schema.field("method").type)
    assert table.column("status_code").to_pylist() == list(range(207, 199, -1))  # sorted by time


def test_row_groups_are_capped() -> None:
    assert 100_000 <= ROW_GROUP_ROWS <= 2_000_000


def test_output_names_and_arrival_times_come_from_the_key() -> None:
    key = "raw/2026/11/22/10/loglake-access-logs-1-2026-11-22-10-05-03-0b6c1f7e-1111-2222-3333-444455556666.gz"
    assert output_stem(key) == output_stem(key) != output_stem(key.replace("10-05-03", "10-05-04"))
    assert arrival_ms(key) == BASE_MS + 5 * 60_000 + 3000
    assert arrival_ms("raw/2026/11/22/10/custom-name.gz") == BASE_MS
    assert arrival_ms("raw/backfill/whatever.gz") is None
    assert arrival_ms("raw/2026/13/40/99/x.gz") is None


# --------------------------------------------------------------------------- the round trip

TEXT = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=12)
RECORDS = st.fixed_dictionaries(
    {
        "timestamp": st.integers(946_684_800_000, 4_102_444_799_999),
        "service_name": st.sampled_from(["shop", "web", "a.b-c_d"]),
    },
    optional={
        "method": st.sampled_from(["GET", "POST", "DELETE"]),
        "path": TEXT,
        "query_params": TEXT,
        "status_code": st.integers(0, 999),
        "latency_ms": st.floats(0, 1e9, allow_nan=False),
        "bytes_sent": st.integers(0, 2**63 - 1),
        "user_id": TEXT,
        "ip_address": st.ip_addresses().map(str),
        "user_agent": TEXT,
        "referer": TEXT,
        "trace_id": TEXT,
        "level": st.sampled_from(["INFO", "ERROR"]),
        "sample_rate": st.floats(0.001, 1.0),
        "extra": st.dictionaries(st.sampled_from(["a", "b", "c"]), st.integers(-(2**63), 2**63 - 1) | TEXT, max_size=2),
        "custom": TEXT,  # an unknown field: goes to extra
    },
)


def as_sent(record: dict[str, Any], style: int) -> bytes:
    """The same event in a few shapes the documented coercions accept."""
    if style == 0:
        return to_json_line(normalize(record))
    sent = dict(record)
    if style == 1:
        sent["timestamp"] = datetime.fromtimestamp(record["timestamp"] / 1000, tz=UTC).isoformat()
        if "status_code" in sent:
            sent["status_code"] = str(sent["status_code"])
    return orjson.dumps(sent) + b"\n"


def stored_rows(storage: MemoryStorage) -> list[dict[str, Any]]:
    rows = []
    for key, data in storage.under("tables/").items():
        service = parse_key(key).spec["service_name"]
        table = read_parquet(data)
        ms = table.column("timestamp").cast(pa.int64()).to_pylist()
        for row, t in zip(table.to_pylist(), ms, strict=True):
            row["timestamp"] = t
            rows.append({k: v for k, v in row.items() if v is not None} | {"service_name": service})
    return rows


def key_of(row: dict[str, Any]) -> str:
    return orjson.dumps(row, option=orjson.OPT_SORT_KEYS).decode()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(records=st.lists(RECORDS, min_size=1, max_size=25), style=st.integers(0, 2))
def test_json_to_parquet_and_back_equals_the_normalised_input(records: list[dict[str, Any]], style: int) -> None:
    storage = MemoryStorage()
    storage.put("raw/object.gz", gzip.compress(b"".join(as_sent(r, style) for r in records)))
    result = convert_object(storage, "raw/object.gz", options=NO_WINDOW)
    assert result.rows_quarantined == 0 and result.rows_written == len(records)
    expected = sorted((normalize(r) for r in records), key=key_of)
    assert sorted(stored_rows(storage), key=key_of) == expected
    for key in storage.under("tables/"):
        ts = read_parquet(storage.get(key)).column("timestamp").cast(pa.int64()).to_pylist()
        assert ts == sorted(ts)
        partition = parse_key(key)
        assert {datetime.fromtimestamp(t / 1000, tz=UTC).strftime("%Y%m%d%H") for t in ts} == {
            "".join(partition.values[1:])
        }


def test_strings_longer_than_their_field_are_cut_as_normalize_documents() -> None:
    storage = MemoryStorage()
    line = orjson.dumps({"timestamp": BASE_MS, "service_name": "shop", "path": "/" + "p" * 5000}) + b"\n"
    storage.put("raw/long.gz", gzip.compress(line))
    convert_object(storage, "raw/long.gz", options=NO_WINDOW)
    (row,) = stored_rows(storage)
    assert len(row["path"]) == FIELDS_BY_NAME["path"].max_length and row["path"].endswith("…[truncated]")
    assert orjson.loads(row["extra"])["_loglake"]["truncated"] == ["path"]


def test_outputs_do_not_depend_on_how_the_object_is_cut_into_chunks() -> None:
    # Chunks are cut into sorted pieces in parallel and the pieces put together per partition: ties in time must
    # keep line order, and routing by arrival must not depend on the chunking either.
    rng = random.Random(7)
    key = "raw/2026/11/22/10/loglake-access-logs-1-2026-11-22-10-05-00-1f2e3d4c-0000-1111-2222-333344445555.gz"
    times = [BASE_MS + rng.randrange(-2, 3) * 1_800_000 + rng.randrange(3) for _ in range(40)] + [
        BASE_MS - 86400_000 * 3
    ]
    lines = [
        to_json_line(
            normalize({"request_id": f"r{i}", "timestamp": rng.choice(times), "service_name": rng.choice("ab")})
        )
        for i in range(3000)
    ]
    lines[1234] = b"not json\n"
    data = gzip.compress(b"".join(lines))
    outputs = []
    for chunk_bytes in (1 << 24, 5000, 777):
        storage = MemoryStorage()
        storage.put(key, data)
        result = convert_object(storage, key, options=ConvertOptions(chunk_bytes=chunk_bytes))
        assert result.rows_out_of_window > 0 and result.rows_quarantined == 1
        outputs.append(storage.under("tables/") | storage.under("quarantine/"))
    assert outputs[0] == outputs[1] == outputs[2] and len(outputs[0]) > 5


def test_outputs_do_not_depend_on_which_fields_the_json_reader_expects() -> None:
    # After the first chunks the JSON reader is told only the fields seen so far; lines with other fields (with
    # values, or sent as null) are read again with the whole schema. The files are the same however it went.
    key = "raw/backfill/fields.gz"
    lines = []
    for i in range(3000):
        record: dict[str, Any] = {"request_id": f"r{i}", "timestamp": BASE_MS + i * 1000, "service_name": "shop"}
        if i >= 1500:
            record["status_code"] = 200 + i % 100
        if i >= 2500:
            record["trace_id"] = f"t{i}"
        lines.append(to_json_line(normalize(record)))
    lines[2000] = lines[2000].replace(b"{", b'{"user_id":null,', 1)
    lines[2600] = lines[2600].replace(b"{", b'{"level":null,', 1)
    data = gzip.compress(b"".join(lines))
    outputs = []
    for options in (
        ConvertOptions(chunk_bytes=1 << 24),
        ConvertOptions(chunk_bytes=3000),
        ConvertOptions(chunk_bytes=3000, fast=False),
    ):
        storage = MemoryStorage()
        storage.put(key, data)
        result = convert_object(storage, key, options=options)
        assert result.rows_written == 3000 and result.rows_quarantined == 0
        outputs.append(storage.under("tables/"))
    assert outputs[0] == outputs[1] == outputs[2]
