"""Table layouts: templates, column rules, LOGLAKE_TABLES parsing, key classification, partition projection."""

from __future__ import annotations

import doctest
from datetime import date, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import loglake.layout as layout_module
import loglake.partition_columns as columns_module
from loglake.errors import ConfigError, PartitionKeyError
from loglake.layout import Column, Segment, TableLayout, TableLayouts, parse_template, projection_properties
from loglake.partitions import VALUE_RE, Partition, parse_key
from loglake.schema import PARTITION_KEYS

AUDIT = {
    "layout": "{account_id}/{date}/",
    "columns": {
        "account_id": {"type": "string"},
        "date": {"type": "date", "format": "yyyy-MM-dd", "range": "2020-01-01,NOW"},
    },
}
ACCESS_KEY = "tables/access_logs/service_name=shop/year=2026/month=11/day=22/hour=10/part.parquet"


@pytest.fixture
def audit() -> TableLayout:
    return TableLayout.from_config("audit_log", AUDIT)


def test_template_layout_parses_and_formats(audit: TableLayout) -> None:
    p = audit.parse("tables/audit_log/123456789012/2026-11-22/events-1.parquet")
    assert p == Partition("audit_log", ("123456789012", "2026-11-22"), ("account_id", "date"))
    assert audit.prefix(p) == "tables/audit_log/123456789012/2026-11-22/"
    assert audit.key_for(p.spec, "x.parquet") == "tables/audit_log/123456789012/2026-11-22/x.parquet"
    assert not audit.is_hive and TableLayout.hive("access_logs").is_hive


@pytest.mark.parametrize(
    ("key", "reason"),
    [
        ("tables/audit_log/123456789012/events.parquet", "1 folder segment.* needs 2"),
        ("tables/audit_log/123456789012/2026-11-22/a=b/events.parquet", "extra partition level"),
        ("tables/audit_log/123456789012/2026-13-01/events.parquet", "not a date in the format yyyy-MM-dd"),
        ("tables/audit_log/123456789012/2026-2-01/events.parquet", "not a date"),
        ("tables/audit_log/123456789012/2026-11-22T00/events.parquet", "not a date"),
        ("tables/audit_log/12'34/2026-11-22/events.parquet", "not allowed"),
        ("tables/audit_log/123;--/2026-11-22/events.parquet", "not allowed"),
        ("tables/audit_log/account_id=1/2026-11-22/events.parquet", "not allowed"),
        ("tables/audit_log_x/1/2026-11-22/events.parquet", "not under tables/audit_log/"),
        ("tables/audit_log/1//2026-11-22/events.parquet", "expected a segment"),
    ],
)
def test_template_layout_refuses_bad_keys(audit: TableLayout, key: str, reason: str) -> None:
    with pytest.raises(PartitionKeyError, match=reason):
        audit.parse(key)


def test_segments_match_whole_segments_with_literal_text() -> None:
    layout = TableLayout.from_config(
        "events", {"layout": "v2/region-{region}/dt={dt}/", "columns": {"region": {"values": ["eu", "us"]}}}
    )
    assert layout.parse("tables/events/v2/region-eu/dt=2026/x.parquet").spec == {"region": "eu", "dt": "2026"}
    for bad in ("v3/region-eu/dt=1/x.parquet", "v2/region-/dt=1/x.parquet", "v2/xregion-eu/dt=1/x.parquet"):
        with pytest.raises(PartitionKeyError, match="expected a segment"):
            layout.parse("tables/events/" + bad)
    with pytest.raises(PartitionKeyError, match="not one of the configured values"):
        layout.parse("tables/events/v2/region-ap/dt=1/x.parquet")
    assert Segment("v2").match("v2") == "" and Segment("v2").match("v22") is None


def test_default_tables_hold_the_access_log_table_in_hive_layout() -> None:
    tables = TableLayouts.from_config({})
    access = tables["access_logs"]
    assert access.keys == PARTITION_KEYS and access.is_hive and not access.projection
    assert tables.classify(ACCESS_KEY).partition == parse_key(ACCESS_KEY)
    with pytest.raises(PartitionKeyError, match="add it to LOGLAKE_TABLES"):
        tables["nope"]


@pytest.mark.parametrize(
    ("key", "verdict"),
    [
        (ACCESS_KEY, "partition"),
        ("tables/access_logs/service_name=shop/", "ignored"),  # folder marker
        ("tables/access_logs/service_name=shop_$folder$", "ignored"),
        ("tables/access_logs/service_name=shop/year=2026/month=11/day=22/hour=10/.tmp-abc", "ignored"),
        ("tables/access_logs/service_name=shop/year=2026/month=11/day=22/hour=10/_SUCCESS", "ignored"),
        ("tables/access_logs/service_name=shop/year=2026/month=11/day=22/hour=10/p.parquet.tmp", "ignored"),
        ("tables/access_logs/service_name=shop/year=2026/month=11/day=22/hour=10/p.json", "ignored"),
        ("tables/access_logs/service_name=shop/year=2026/month=11/day=22/hour=10/_temporary/0/p.parquet", "ignored"),
        ("tables/audit_log/1/2026-11-22/p.parquet", "ignored"),  # partition projection
        ("tables/other/service_name=shop/p.parquet", "invalid"),  # not configured
        ("raw/2026/11/22/p.parquet", "invalid"),
        ("p.parquet", "invalid"),
        ("tables/access_logs/service_name=sh'op/year=2026/month=11/day=22/hour=10/p.parquet", "invalid"),
        ("tables/access_logs/service_name=shop/year=2026/month=11/day=22/hour=99/p.parquet", "invalid"),
    ],
)
def test_classify(key: str, verdict: str) -> None:
    tables = TableLayouts.from_config({"audit_log": AUDIT | {"projection": True}})
    v = tables.classify(key)
    got = "partition" if v.partition else "ignored" if v.ignored else "invalid"
    assert got == verdict, v
    assert (v.partition is not None) + (v.ignored is not None) + (v.invalid is not None) == 1


def test_autoloaded_tables_and_notification_prefixes() -> None:
    tables = TableLayouts.from_config(
        {"audit_log": AUDIT, "access_logs": {"projection": True, "columns": {"service_name": {"values": ["web"]}}}}
    )
    assert [t.table for t in tables.autoloaded()] == ["audit_log"]
    assert tables.notification_prefixes() == ["tables/audit_log/"]
    assert tables["access_logs"].columns[0].values == ("web",)
    assert tables["access_logs"].columns[1].digits == 4  # unconfigured columns keep the access-log rules


def test_projection_properties_for_the_access_log_table() -> None:
    props = projection_properties(TableLayout.hive("access_logs"), "s3://lake/tables/access_logs/")
    assert props == {
        "projection.enabled": "true",
        "projection.service_name.type": "injected",
        "projection.year.type": "integer",
        "projection.year.range": "2000,2099",
        "projection.year.digits": "4",
        "projection.month.type": "integer",
        "projection.month.range": "1,12",
        "projection.month.digits": "2",
        "projection.day.type": "integer",
        "projection.day.range": "1,31",
        "projection.day.digits": "2",
        "projection.hour.type": "integer",
        "projection.hour.range": "0,23",
        "projection.hour.digits": "2",
        "storage.location.template": "s3://lake/tables/access_logs/"
        "service_name=${service_name}/year=${year}/month=${month}/day=${day}/hour=${hour}/",
    }


def test_projection_properties_for_a_template_table(audit: TableLayout) -> None:
    layout = TableLayout.from_config(
        "audit_log", AUDIT | {"columns": AUDIT["columns"] | {"account_id": {"values": ["111", "222"]}}}
    )
    props = layout.projection_properties("s3://${Token[Bucket]}/tables/audit_log/")
    assert props == {
        "projection.enabled": "true",
        "projection.account_id.type": "enum",
        "projection.account_id.values": "111,222",
        "projection.date.type": "date",
        "projection.date.format": "yyyy-MM-dd",
        "projection.date.range": "2020-01-01,NOW",
        "projection.date.interval": "1",
        "projection.date.interval.unit": "DAYS",
        "storage.location.template": "s3://${Token[Bucket]}/tables/audit_log/${account_id}/${date}/",
    }
    assert audit.glue_partition_keys() == [{"Name": "account_id", "Type": "string"}, {"Name": "date", "Type": "string"}]
    with pytest.raises(ConfigError, match="s3:// folder"):
        projection_properties(audit, "s3://lake/tables/audit_log")


def test_date_column_defaults_and_units() -> None:
    c = Column.from_config("hour", {"type": "date", "format": "yyyy-MM-dd-HH"})
    assert (c.date_range, c.unit, c.interval) == ("2000-01-01-00,NOW", "HOURS", 1)
    c = Column.from_config("d", {"type": "date", "format": "yyyyMMdd", "range": "NOW-3YEARS,NOW", "interval": 2})
    assert c.validate("20261122") == "20261122"
    assert c.projection()["projection.d.interval"] == "2"


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"audit": {"columns": {}}}, 'needs a "layout"'),
        ({"audit": {"layout": "{a}/{a}/"}}, "appears twice"),
        ({"audit": {"layout": "{a}{b}/"}}, "several placeholders"),
        ({"audit": {"layout": "fixed/"}}, "no {column} placeholder"),
        ({"audit": {"layout": "{a b}/"}}, "column name"),
        ({"audit": {"layout": "x'{a}/"}}, "may only hold"),
        ({"audit": {"layout": ""}}, "at least one segment"),
        ({"audit": {"layout": "{a}/", "columns": {"b": {}}}}, "not in its layout"),
        ({"audit": {"layout": "{a}/", "colums": {}}}, "unknown setting"),
        ({"audit": {"layout": "{a}/", "columns": {"a": {"type": "float"}}}}, "not string, integer or date"),
        ({"audit": {"layout": "{a}/", "columns": {"a": {"type": "integer"}}}}, 'needs "range"'),
        ({"audit": {"layout": "{a}/", "columns": {"a": {"type": "integer", "range": [5, 1]}}}}, "lo <= hi"),
        ({"audit": {"layout": "{a}/", "columns": {"a": {"type": "date", "format": "yyyy/MM/dd"}}}}, "several path"),
        ({"audit": {"layout": "{a}/", "columns": {"a": {"type": "date", "format": "DD.MM"}}}}, "must combine"),
        (
            {"audit": {"layout": "{a}/", "columns": {"a": {"type": "date", "format": "yyyy", "range": "x"}}}},
            "start,end",
        ),
        ({"audit": {"layout": "{a}/", "columns": {"a": {"type": "date", "format": "yyyy", "unit": "AGES"}}}}, "unit"),
        ({"audit": {"layout": "{a}/", "columns": {"a": {"values": ["ok", "n'o"]}}}}, "not allowed"),
        ({"audit": {"layout": "{a}/", "columns": {"a": {"values": "ok"}}}}, "list of strings"),
        ({"audit": {"layout": "{a}/", "suffixes": []}}, "suffixes"),
        ({"Audit": {"layout": "{a}/"}}, "table name"),
        ({"audit": {"layout": "hive"}}, "needs its columns"),
        ({"audit": "{a}/"}, "must be described by an object"),
    ],
)
def test_bad_configuration_says_what_to_fix(config: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        TableLayouts.from_config(config)


def test_hive_table_from_config() -> None:
    tables = TableLayouts.from_config(
        {"events": {"layout": "hive", "columns": {"region": {}, "hour": {}}, "suffixes": ".json.gz"}}
    )
    layout = tables["events"]
    assert layout.is_hive and layout.suffixes == (".json.gz",)
    assert tables.classify("tables/events/region=eu/hour=07/a.json.gz").partition.spec == {
        "region": "eu",
        "hour": "07",
    }
    assert tables.classify("tables/events/region=eu/hour=07/a.parquet").ignored


def test_parse_template_segments() -> None:
    assert parse_template("AWSLogs/{account_id}/dt={date}") == (
        Segment("AWSLogs"),
        Segment("", "account_id", ""),
        Segment("dt=", "date", ""),
    )


SAFE = st.from_regex(VALUE_RE, fullmatch=True)
DAYS = st.integers(0, 36_000).map(lambda n: (date(2000, 1, 1) + timedelta(days=n)).isoformat())


@settings(max_examples=150, deadline=None)
@given(account=SAFE, day=DAYS, region=st.sampled_from(["eu", "us"]), n=st.integers(0, 999), sub=st.booleans())
def test_template_values_to_key_to_values_is_the_identity(account: str, day: str, region: str, n: int, sub: bool):
    layout = TableLayout.from_config(
        "audit_log",
        {
            "layout": "v1/{account_id}/region-{region}/{date}/n{n}x/",
            "columns": {
                "date": {"type": "date", "format": "yyyy-MM-dd"},
                "region": {"values": ["eu", "us"]},
                "n": {"type": "integer", "range": [0, 999], "digits": 3},
            },
        },
    )
    values = {"account_id": account, "region": region, "date": day, "n": f"{n:03d}"}
    key = layout.key_for(values, "sub/f.parquet" if sub else "f.parquet")
    assert layout.parse(key).spec == values
    assert TableLayouts({"audit_log": layout}).classify(key).partition == layout.partition(values)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(alphabet=st.characters(codec="utf-8"), max_size=12), max_size=6))
def test_any_template_key_gives_safe_values_or_a_reason(segments: list[str]) -> None:
    tables = TableLayouts.from_config({"audit_log": AUDIT})
    v = tables.classify("tables/audit_log/" + "/".join(segments))
    if v.partition is not None:
        assert all(VALUE_RE.fullmatch(x) for x in v.partition.values)
    else:
        assert v.ignored or v.invalid


FOLDERS = st.sampled_from(
    [
        "tables/access_logs/service_name=a/year=2026/month=11/day=22/hour=10",
        "tables/access_logs/service_name=a/year=2026/month=11/day=22/hour=10/sub",
        "tables/access_logs/service_name=a/year=2026/month=11/day=22/hour=10/_tmp",
        "tables/access_logs/service_name=a'/year=2026/month=11/day=22/hour=10",
        "tables/audit_log/1/2026-11-22",
        "tables/audit_log/1/2026-11-22/x$folder$y",
        "tables/nope/1",
    ]
)
NAMES = st.sampled_from(["p.parquet", "p.json", "_SUCCESS", ".tmp-1", "p.parquet.tmp", "", "x_$folder$", "a.json.gz"])


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(FOLDERS, NAMES), min_size=1, max_size=30))
def test_the_folder_cache_never_changes_a_verdict(keys: list[tuple[str, str]]) -> None:
    config = {"audit_log": AUDIT | {"suffixes": [".parquet", ".json.gz"]}}
    warm = TableLayouts.from_config(config)
    for folder, name in keys:
        key = f"{folder}/{name}"
        assert warm.classify(key) == TableLayouts.from_config(config).classify(key)


def test_the_folder_cache_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    tables = TableLayouts()
    monkeypatch.setattr(TableLayouts, "FOLDER_CACHE_SIZE", 3)
    for hour in range(5):
        key = f"tables/access_logs/service_name=a/year=2026/month=11/day=22/hour={hour:02d}/p.parquet"
        assert tables.classify(key).partition is not None
        assert 1 <= len(tables._folders) <= 3


def test_docstring_examples() -> None:
    assert doctest.testmod(layout_module).failed == 0
    assert doctest.testmod(columns_module).failed == 0
