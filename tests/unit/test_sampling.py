"""Sampling: a documented, reproducible function of request_id; errors, slow requests and id-less events kept."""

from __future__ import annotations

import hashlib
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from loglake.errors import ConfigError
from loglake.sampling import Sampler, ServiceRule, hash_unit, keep_below


def reference_keep(request_id: str, rate: float) -> bool:
    """The documented function, written out independently: SHA-256, first 8 bytes big-endian, / 2**64."""
    h = int.from_bytes(hashlib.sha256(request_id.encode()).digest()[:8], "big")
    return h < rate * 2**64


def test_known_values_of_the_hash_unit() -> None:
    assert round(hash_unit("r1"), 6) == 0.511534
    assert 0.0 <= hash_unit("") < 1.0


@given(st.text(min_size=1), st.floats(min_value=0.0, max_value=1.0))
@settings(max_examples=300)
def test_decision_is_the_documented_function(request_id: str, rate: float) -> None:
    s = Sampler(ServiceRule(rate=rate))
    kept = s.decide({"service_name": "a", "status_code": 200, "request_id": request_id}) is not None
    try:
        request_id.encode()
    except UnicodeEncodeError:
        return  # lone surrogates: encoded with surrogatepass, not comparable with the reference
    assert kept == (rate >= 1.0 or reference_keep(request_id, rate))


@given(st.text(), st.sampled_from(["checkout", "search", "auth"]), st.sampled_from(["checkout", "search"]))
@settings(max_examples=100)
def test_same_request_same_decision_on_retries_and_across_services(rid: str, svc1: str, svc2: str) -> None:
    a, b = Sampler(ServiceRule(rate=0.25)), Sampler(ServiceRule(rate=0.25))
    first = a.decide({"service_name": svc1, "status_code": 200, "request_id": rid})
    assert first == a.decide({"service_name": svc1, "status_code": 200, "request_id": rid})
    assert first == b.decide({"service_name": svc2, "status_code": 200, "request_id": rid})


@given(st.text())
@settings(max_examples=100)
def test_kept_sets_nest_as_the_rate_grows(rid: str) -> None:
    rates = [0.01, 0.1, 0.5, 0.9]
    kept = [Sampler(ServiceRule(rate=r)).decide({"service_name": "a", "request_id": rid}) is not None for r in rates]
    assert kept == sorted(kept)  # once kept at a rate, kept at every higher rate


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        ({"status_code": 404}, 1.0),
        ({"status_code": 503}, 1.0),
        ({"status_code": 0}, 1.0),  # not a status a server sends: kept
        ({"status_code": 200, "latency_ms": 1000.0}, 1.0),  # at the threshold: slow
        ({"status_code": 200, "latency_ms": 5000.0}, 1.0),
        ({"status_code": 200, "request_id": None}, 1.0),  # no id: kept
    ],
)
def test_errors_slow_and_idless_requests_are_always_kept(event: dict[str, object], expected: float) -> None:
    s = Sampler(ServiceRule(rate=0.0))
    event = {"service_name": "a", "request_id": "r", **event}
    if event["request_id"] is None:
        del event["request_id"]
    assert s.decide(event) == expected


def test_rate_zero_drops_and_rate_one_keeps_every_sampled_request() -> None:
    ev = {"service_name": "a", "status_code": 200, "request_id": "r"}
    assert Sampler(ServiceRule(rate=0.0)).decide(ev) is None
    assert Sampler(ServiceRule(rate=1.0)).decide(ev) == 1.0


def test_kept_share_is_close_to_the_rate() -> None:
    s = Sampler.from_settings({})
    kept = sum(
        s.decide({"service_name": "a", "status_code": 200, "request_id": f"r{i}"}) is not None for i in range(20_000)
    )
    assert 0.09 < kept / 20_000 < 0.11  # binomial sd ~ 0.002: this would fail only if the hash were broken


def test_per_service_settings_and_defaults() -> None:
    s = Sampler.from_settings(
        {
            "default": {"rate": 0.2, "slow_ms": 800},
            "services": {"checkout": {"rate": 1.0}, "search": {"slow_ms": 100, "truncate_ip": True}},
        }
    )
    assert s.rule_for("other") == ServiceRule(0.2, 800.0, False)
    assert s.rule_for("checkout") == ServiceRule(1.0, 800.0, False)  # inherits the default's slow_ms
    assert s.rule_for("search") == ServiceRule(0.2, 100.0, True)
    assert s.decide({"service_name": "search", "status_code": 200, "latency_ms": 150, "request_id": "x"}) == 1.0


@pytest.mark.parametrize(
    "setting",
    [
        {"default": {"rate": 1.5}},
        {"default": {"rate": "lots"}},
        {"default": {"slow_ms": -1}},
        {"default": {"rat": 0.1}},
        {"services": {"a": {"truncate_ip": "yes"}}},
        {"services": ["a"]},
        {"defaults": {}},
    ],
)
def test_bad_sampling_settings_fail_loudly(setting: dict[str, object]) -> None:
    with pytest.raises(ConfigError):
        Sampler.from_settings(setting)


@given(st.text(max_size=40), st.floats(min_value=0.0, max_value=1.0, exclude_min=True, exclude_max=True))
@settings(max_examples=300)
def test_threshold_bytes_decide_as_the_documented_comparison(request_id: str, rate: float) -> None:
    digest = hashlib.sha256(request_id.encode("utf-8", "surrogatepass")).digest()
    h = int.from_bytes(digest[:8], "big")
    assert (digest < keep_below(rate)) == (h < rate * 2**64)


def test_threshold_bytes_at_the_boundary() -> None:
    """Rates whose ``rate * 2**64`` falls on, just above and just below a request's own point."""
    for i in range(2000):
        rid = f"req-{i}"
        digest = hashlib.sha256(rid.encode()).digest()
        h = int.from_bytes(digest[:8], "big")
        exact = h / 2**64
        for rate in (exact, math.nextafter(exact, 1.0), math.nextafter(exact, 0.0), (h + 1) / 2**64, (h - 1) / 2**64):
            if 0.0 < rate < 1.0:
                kept = Sampler(ServiceRule(rate=rate)).decide_values("a", 200, None, rid) is not None
                assert kept == (h < rate * 2**64) == reference_keep(rid, rate)
