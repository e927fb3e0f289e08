"""AthenaCatalog against a scripted fake client: throttling, failures, retryable failures, timeouts, chunks."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError

from loglake.catalog import AthenaCatalog, PartialCatalogError
from loglake.errors import CatalogError
from loglake.partitions import Partition
from tests.autoloader_fakes import FakeAthena, FakeClock, throttled


def catalog(client: FakeAthena, clock: FakeClock, **kwargs: Any) -> AthenaCatalog:
    return AthenaCatalog(
        database="loglake",
        workgroup="loglake",
        client=client,
        sleep=clock.sleep,
        clock=clock.monotonic,
        **kwargs,
    )


def items(n: int = 1) -> list[tuple[Partition, str]]:
    out = []
    for i in range(n):
        p = Partition("access_logs", (f"svc{i}", "2026", "11", "22", "10"))
        out.append((p, "s3://lake/" + p.prefix))
    return out


def test_statement_runs_in_the_workgroup_and_waits_with_backoff() -> None:
    client, clock = FakeAthena(states=["QUEUED", "RUNNING", "RUNNING", "RUNNING", "SUCCEEDED"]), FakeClock()
    c = catalog(client, clock, output_location="s3://results/")
    assert c.add_partitions(items(2)) == 1
    [query] = client.queries
    assert query["WorkGroup"] == "loglake"
    assert query["QueryExecutionContext"] == {"Database": "loglake"}
    assert query["ResultConfiguration"] == {"OutputLocation": "s3://results/"}
    assert query["QueryString"].startswith("ALTER TABLE `loglake`.`access_logs` ADD IF NOT EXISTS")
    assert client.polls == 5
    assert clock.sleeps == [0.1, 0.2, 0.4, 0.8]


def test_throttled_calls_are_retried_with_backoff() -> None:
    client = FakeAthena(starts=[throttled(), throttled("ThrottlingException")], states=[throttled(), "SUCCEEDED"])
    clock = FakeClock()
    assert catalog(client, clock).add_partitions(items()) == 1
    assert len(client.queries) == 1
    assert clock.sleeps == [0.2, 0.4, 0.2]


def test_connection_errors_are_retried_like_throttling() -> None:
    client, clock = FakeAthena(starts=[EndpointConnectionError(endpoint_url="https://athena")]), FakeClock()
    assert catalog(client, clock).add_partitions(items()) == 1


def test_throttling_that_never_ends_becomes_a_catalog_error() -> None:
    client, clock = FakeAthena(starts=[throttled()] * 10), FakeClock()
    with pytest.raises(CatalogError, match="TooManyRequestsException"):
        catalog(client, clock, call_attempts=4).add_partitions(items())
    assert len(clock.sleeps) == 3 and not client.queries


def test_a_non_retryable_error_fails_at_once() -> None:
    error = ClientError({"Error": {"Code": "InvalidRequestException", "Message": "no workgroup"}}, "Start")
    client, clock = FakeAthena(starts=[error]), FakeClock()
    with pytest.raises(CatalogError, match="InvalidRequestException"):
        catalog(client, clock).add_partitions(items())
    assert clock.sleeps == []


@pytest.mark.parametrize("state", ["FAILED", "CANCELLED"])
def test_failed_and_cancelled_statements_raise_with_the_reason(state: str) -> None:
    status = {"State": state, "StateChangeReason": "Table not found loglake.access_logs"}
    client, clock = FakeAthena(states=[status]), FakeClock()
    with pytest.raises(CatalogError, match=f"q1 in workgroup loglake {state}.*Table not found"):
        catalog(client, clock).add_partitions(items())
    assert len(client.queries) == 1


def test_a_statement_failed_by_throttling_is_run_again() -> None:
    glue_throttled = {
        "State": "FAILED",
        "StateChangeReason": "FAILED: Rate exceeded (Service: AWSGlue; Error Code: ThrottlingException)",
    }
    retryable = {"State": "FAILED", "AthenaError": {"ErrorCategory": 1, "Retryable": True, "ErrorMessage": "x"}}
    client, clock = FakeAthena(states=[glue_throttled, retryable, "SUCCEEDED"]), FakeClock()
    assert catalog(client, clock).add_partitions(items()) == 1
    assert len(client.queries) == 3
    assert clock.sleeps == [1.0, 2.0]


def test_a_statement_throttled_every_time_fails_after_its_attempts() -> None:
    retryable = {"State": "FAILED", "AthenaError": {"Retryable": True, "ErrorMessage": "capacity"}}
    client, clock = FakeAthena(states=[retryable] * 5), FakeClock()
    with pytest.raises(CatalogError, match=r"FAILED \(attempt 2\): capacity"):
        catalog(client, clock, statement_attempts=2).add_partitions(items())
    assert len(client.queries) == 2


def test_a_statement_still_running_at_the_timeout_raises() -> None:
    client, clock = FakeAthena(states=["RUNNING"] * 1000), FakeClock()
    with pytest.raises(CatalogError, match="still RUNNING after 30 s"):
        catalog(client, clock, timeout_s=30).add_partitions(items())
    assert 30 <= clock.now < 33
    assert max(clock.sleeps) == 2.0


def test_timeout_holds_with_an_injected_sleep_only() -> None:
    client, clock = FakeAthena(states=["RUNNING"] * 1000), FakeClock()
    c = AthenaCatalog(database="loglake", client=client, sleep=clock.sleep, timeout_s=5)
    with pytest.raises(CatalogError, match="still RUNNING"):
        c.execute("SELECT 1")


def test_partial_failure_names_the_partitions_that_made_it() -> None:
    client = FakeAthena(states=["SUCCEEDED", "SUCCEEDED", {"State": "FAILED", "StateChangeReason": "boom"}])
    clock = FakeClock()
    c = catalog(client, clock, max_query_bytes=600)
    all_items = items(8)
    with pytest.raises(PartialCatalogError) as info:
        c.add_partitions(all_items)
    err = info.value
    assert len(client.queries) == 3 and err.statements == 2
    assert 0 < len(err.registered) < len(all_items)
    assert err.registered == [p for p, _ in all_items[: len(err.registered)]]
    assert "statement 3 of" in str(err)


def test_first_chunk_failure_is_a_plain_catalog_error() -> None:
    client, clock = FakeAthena(states=[{"State": "FAILED", "StateChangeReason": "boom"}]), FakeClock()
    with pytest.raises(CatalogError) as info:
        catalog(client, clock).add_partitions(items(2))
    assert not isinstance(info.value, PartialCatalogError)


def test_set_partition_location_is_one_statement() -> None:
    client, clock = FakeAthena(), FakeClock()
    p, _ = items()[0]
    catalog(client, clock).set_partition_location(p, "s3://lake/compacted/g1/")
    [query] = client.queries
    assert query["QueryString"].endswith("SET LOCATION 's3://lake/compacted/g1/'")


def test_no_client_is_created_until_needed() -> None:
    c = AthenaCatalog(database="loglake")
    assert c.add_partitions([]) == 0
    assert c._client is None and c._glue is None
    with pytest.raises(CatalogError, match="not a valid identifier"):
        AthenaCatalog(database="log-lake")
