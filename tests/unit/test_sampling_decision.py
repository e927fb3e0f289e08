"""The keep/drop decision: consistent by request_id, errors and slow requests always kept."""

from __future__ import annotations

import hashlib

import pytest

from loglake.errors import ConfigError
from loglake.sampling import Sampler, hash_unit


def test_hash_unit_is_the_documented_function() -> None:
    rid = "3f1c9a52-0000-4000-8000-000000000001"
    expected = int.from_bytes(hashlib.sha256(rid.encode()).digest()[:8], "big") / 2**64
    assert hash_unit(rid) == expected
    assert 0.0 <= hash_unit(rid) < 1.0


def test_errors_slow_and_idless_requests_are_always_kept() -> None:
    s = Sampler.from_settings({"default": {"rate": 0.0}})
    base = {"service_name": "a", "request_id": "r"}
    assert s.decide(base | {"status_code": 404}) == 1.0
    assert s.decide(base | {"status_code": 503}) == 1.0
    assert s.decide(base | {"status_code": 200, "latency_ms": 1000}) == 1.0
    assert s.decide({"service_name": "a", "status_code": 200}) == 1.0
    assert s.decide(base | {"status_code": 200, "latency_ms": 999.9}) is None


def test_decision_is_consistent_and_close_to_the_rate() -> None:
    s = Sampler.from_settings({})
    ids = [f"req-{i}" for i in range(20_000)]
    first = [s.decide({"service_name": "a", "request_id": r, "status_code": 200}) for r in ids]
    again = [s.decide({"service_name": "b", "request_id": r, "status_code": 200}) for r in ids]
    assert first == again  # same request, same decision, whatever the service or the retry
    kept = sum(1 for d in first if d is not None) / len(ids)
    assert 0.09 < kept < 0.11
    assert {d for d in first if d is not None} == {0.1}


def test_per_service_rules_override_the_default() -> None:
    s = Sampler.from_settings({"default": {"rate": 0.5}, "services": {"search": {"rate": 0.01, "slow_ms": 200}}})
    assert s.rule_for("search").rate == 0.01 and s.rule_for("search").slow_ms == 200
    assert s.rule_for("other").rate == 0.5


@pytest.mark.parametrize("bad", [{"default": {"rate": 1.5}}, {"services": {"x": {"rte": 0.1}}}])
def test_bad_sampling_settings_are_refused(bad: dict) -> None:
    with pytest.raises(ConfigError):
        Sampler.from_settings(bad)
