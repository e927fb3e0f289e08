"""RED metrics: EMF contract, per-batch aggregation, bounded PII-safe routes, scraper lines, time window."""

from __future__ import annotations

import io
from collections import Counter

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from loglake.metrics import MAX_ROUTES_PER_SERVICE, MAX_VALUES_PER_DOCUMENT, MetricsSink, RedMetrics
from loglake.routes import RouteNormalizer, normalize_route

NOW = 1_795_341_600_000  # 2026-11-22T10:00:00Z
MINUTE = 60_000


def docs(m: RedMetrics) -> list[dict]:
    return list(m.documents())


def test_emf_document_contract() -> None:
    m = RedMetrics("loglake-test", now_ms=NOW)
    m.observe_values("shop", NOW + 5, 200, 10.0, "/a", "203.0.113.9")
    m.observe_values("shop", NOW + 6, 404, 20.0, "/a", "203.0.113.9")
    m.observe_values("shop", NOW + 7, 503, None, None, None)
    for outcome in ("Kept", "Kept", "SampledOut"):
        m.outcome("shop", NOW, outcome)
    main, route = docs(m)
    assert main["service_name"] == "shop"
    assert (main["Requests"], main["Errors4xx"], main["Errors5xx"]) == (3, 1, 1)
    assert (main["Kept"], main["SampledOut"], main["Quarantined"]) == (2, 1, 0)
    assert main["Latency"] == [10.0, 20.0]
    directive = main["_aws"]
    assert directive["Timestamp"] == NOW
    (cw,) = directive["CloudWatchMetrics"]
    assert cw["Namespace"] == "loglake-test" and cw["Dimensions"] == [["service_name"]]
    units = {x["Name"]: x["Unit"] for x in cw["Metrics"]}
    assert units == {
        "Requests": "Count",
        "Errors4xx": "Count",
        "Errors5xx": "Count",
        "Kept": "Count",
        "SampledOut": "Count",
        "Quarantined": "Count",
        "Latency": "Milliseconds",
    }
    assert route["route"] == "/a" and route["RouteLatency"] == [10.0, 20.0]
    assert route["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [["service_name", "route"]]
    assert route["_aws"]["CloudWatchMetrics"][0]["Metrics"] == [{"Name": "RouteLatency", "Unit": "Milliseconds"}]


def test_one_document_per_service_and_minute_not_per_event() -> None:
    m = RedMetrics(now_ms=NOW)
    for i in range(1000):
        m.observe_values("shop", NOW + i, 200, None, None, None)
    assert len(docs(m)) == 1


def test_latency_arrays_are_split_at_emf_limit() -> None:
    m = RedMetrics(now_ms=NOW)
    for i in range(250):
        m.observe_values("shop", NOW, 200, float(i), "/a", None)
    main = [d for d in docs(m) if "route" not in d]
    assert [len(d.get("Latency", [])) for d in main] == [100, 100, 50]
    assert "Requests" in main[0] and "Requests" not in main[1]  # counts once
    assert all(len(d["RouteLatency"]) <= MAX_VALUES_PER_DOCUMENT for d in docs(m) if "route" in d)


def test_optional_counters_appear_only_when_they_happened() -> None:
    m = RedMetrics(now_ms=NOW)
    m.outcome("shop", NOW, "ControlMessages", 2)
    (doc,) = docs(m)
    assert doc["ControlMessages"] == 2 and "ProcessingFailed" not in doc


def test_routes_are_capped_per_service() -> None:
    m = RedMetrics(now_ms=NOW)
    for i in range(MAX_ROUTES_PER_SERVICE + 50):
        m.observe_values("shop", NOW, 200, 1.0, f"/r{i}", None)
    routes = {d["route"] for d in docs(m) if "route" in d}
    assert len(routes) == MAX_ROUTES_PER_SERVICE + 1 and "{other}" in routes


def test_ip_lines_for_contributor_insights() -> None:
    m = RedMetrics(now_ms=NOW)
    for _ in range(3):
        m.observe_values("shop", NOW + 61_000, 200, None, None, "203.0.113.9")
    m.observe_values("shop", NOW, 200, None, None, "alice@example.com")  # not an IP: never in a log line
    assert list(m.ip_lines()) == [
        {
            "loglake_event": "ip_requests",
            "service_name": "shop",
            "minute": "2026-11-22T10:01Z",
            "ip_address": "203.0.113.9",
            "requests": 3,
        }
    ]


def test_old_events_count_in_the_arrival_minute() -> None:
    m = RedMetrics(now_ms=NOW)
    m.observe_values("shop", 1_431_857_103_000, 200, None, None, None)  # 2015: outside CloudWatch's window
    (doc,) = docs(m)
    assert doc["_aws"]["Timestamp"] == NOW


_obs = st.tuples(
    st.sampled_from(["a", "b"]),
    st.integers(min_value=NOW // MINUTE - 2, max_value=NOW // MINUTE + 2),
    st.none() | st.sampled_from([200, 301, 404, 500, 503]),
    st.none() | st.floats(min_value=0, max_value=5000),
    st.sampled_from(["/x", "/y"]),
    st.none() | st.sampled_from(["203.0.113.9", "2001:db8::1", "junk"]),
    st.sampled_from(["Kept", "SampledOut", "Quarantined"]),
)


@given(st.lists(_obs, max_size=60))
@settings(max_examples=100)
def test_ingest_counts_like_observe_and_outcome(observations: list[tuple]) -> None:
    one, many = RedMetrics(now_ms=NOW), RedMetrics(now_ms=NOW)
    for service, minute, status, latency, route, ip, outcome in observations:
        one.observe_values(service, minute * MINUTE, status, latency, route if latency is not None else None, ip)
        one.outcome(service, minute * MINUTE, outcome)
    many.ingest(observations)

    def canon(m: RedMetrics) -> tuple:
        ds = docs(m)
        for d in ds:  # EMF arrays are sets of values: their order carries nothing
            for name in ("Latency", "RouteLatency"):
                if name in d:
                    d[name] = sorted(d[name])
        return (
            sorted(orjson.dumps(d, option=orjson.OPT_SORT_KEYS) for d in ds if "route" not in d),
            Counter(
                (d["service_name"], d["route"], d["_aws"]["Timestamp"], len(d["RouteLatency"]))
                for d in ds
                if "route" in d
            ),
            list(m.ip_lines()),
        )

    assert canon(one) == canon(many)


_untimed = st.tuples(
    st.integers(min_value=NOW // MINUTE - 2, max_value=NOW // MINUTE + 2) | st.just(1_431_857_103_000 // MINUTE),
    st.none() | st.sampled_from([99, 200, 301, 404, 500, 503]),
    st.none() | st.sampled_from(["203.0.113.9", "2001:db8::1", "junk", ""]),
    st.sampled_from(["Kept", "SampledOut", "Quarantined"]),
)


@given(st.lists(_obs, max_size=20), st.lists(_untimed, max_size=60), st.sampled_from([NOW, None]))
@settings(max_examples=100)
def test_ingest_untimed_counts_like_ingest(observations: list[tuple], untimed: list[tuple], now: int | None) -> None:
    one, many = RedMetrics(now_ms=now), RedMetrics(now_ms=now)
    one.ingest([*observations, *(("c", m, s, None, None, ip, o) for m, s, ip, o in untimed)])
    many.ingest(observations)
    many.ingest_untimed("c", untimed)
    assert list(one.documents()) == list(many.documents())
    assert one.ip_lines_json() == many.ip_lines_json()


def test_sink_writes_one_json_line_per_document() -> None:
    stream = io.StringIO()
    m = RedMetrics(now_ms=NOW)
    m.observe_values("shop", NOW, 200, 1.0, "/a", "203.0.113.9")
    MetricsSink(stream=stream).emit(m)
    lines = [orjson.loads(line) for line in stream.getvalue().splitlines()]
    assert [("route" in d, d.get("loglake_event")) for d in lines] == [
        (False, None),
        (True, None),
        (False, "ip_requests"),
    ]


# --------------------------------------------------------------------------- routes


def test_route_normalisation() -> None:
    assert normalize_route("/api/v1/products/123") == "/api/v1/products/{id}"
    assert normalize_route("/api/v1/orders/5f0c6a1e-2b8e-4d9f-9a57-0d3c1b2a4e6f/items") == "/api/v1/orders/{id}/items"
    assert normalize_route("/blobs/7ef7bad1786bd1666197cdb11326f6d5120c0174") == "/blobs/{id}"
    assert normalize_route("/api/v1/products?page=2") == "/api/v1/products"
    assert normalize_route("https://shop.example/a/b") == "/a/b"
    assert normalize_route("") == "/" and normalize_route(None) == "/"
    assert normalize_route("/a/b/c/d/e/f/g/h/i/j") == "/a/b/c/d/e/f/g/h/*"


def test_routes_never_carry_personal_data() -> None:
    for path in (
        "/users/alice@example.com/profile",
        "/users/alice%40example.com/profile",
        "/cards/4111-1111-1111-1111",
        "/ssn/078-05-1120",
        "/keys/AKIAIOSFODNN7EXAMPLE",
        "/t/eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
        "/reset/aB3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY3zA",
    ):
        route = RouteNormalizer(lambda text: text)(path)
        assert route.count("{id}") == 1, route
        assert "@" not in route and "%" not in route


def test_route_normalizer_uses_the_scrubber_as_a_second_safeguard() -> None:
    seen: list[str] = []

    def scrub(text: str) -> str:
        seen.append(text)
        return text.replace("secretword", "[REDACTED]")

    routes = RouteNormalizer(scrub)
    assert routes("/a/secretword/b") == "/a/{id}/b"
    assert routes("/a/secretword/b") == "/a/{id}/b" and len(seen) == 1  # memoised


@given(
    st.lists(
        st.tuples(
            st.sampled_from(["shop", "a.b-c_d", 'qu"ote', "back\\slash", "tab\there", "é", "\x7f", ""]) | st.text(),
            st.integers(min_value=NOW // MINUTE - 2, max_value=NOW // MINUTE + 2),
            st.sampled_from(["203.0.113.9", "2001:db8::1", "::ffff:203.0.113.9", "fe80::1%eth0", 'fe80::1%"x\\']),
        ),
        max_size=30,
    )
)
@settings(max_examples=150)
def test_ip_lines_json_is_what_orjson_writes(lines: list[tuple[str, int, str]]) -> None:
    m = RedMetrics(now_ms=NOW)
    for service, minute, ip in lines:
        m.observe_values(service, minute * MINUTE, 200, None, None, ip)
    assert m.ip_lines_json() == b"".join(orjson.dumps(d) + b"\n" for d in m.ip_lines())
