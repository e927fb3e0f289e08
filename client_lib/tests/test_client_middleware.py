"""WSGI and ASGI middleware: one access event per request in the schema's names; bodies never read."""

from __future__ import annotations

import contextlib
import io
import uuid
from collections.abc import Callable, Iterator
from typing import Any
from wsgiref.util import setup_testing_defaults

import pytest
from loglake_client import KinesisLogger, LoglakeASGIMiddleware, LoglakeWSGIMiddleware
from loglake_client.middleware import client_ip
from loglake_client.testing import FakeFirehose

SCHEMA_FIELDS = {
    "request_id", "timestamp", "service_name", "method", "path", "query_params", "status_code", "latency_ms",
    "bytes_sent", "user_id", "ip_address", "user_agent", "referer", "trace_id", "level",
}  # fmt: skip


class ExplodingBody(io.BytesIO):
    def read(self, *args: Any) -> bytes:
        raise AssertionError("the middleware read the request body")

    readline = read
    readlines = read
    __iter__ = read  # type: ignore[assignment]


def one_event(log: KinesisLogger, fake: FakeFirehose) -> dict[str, Any]:
    assert log.flush()
    (event,) = fake.events()
    return event


# --------------------------------------------------------------------------- WSGI


def wsgi_call(app: Callable[..., Any], **environ_overrides: Any) -> tuple[str, list[tuple[str, str]], bytes]:
    environ: dict[str, Any] = {"wsgi.input": ExplodingBody()}
    setup_testing_defaults(environ)
    environ.update(environ_overrides)
    seen: dict[str, Any] = {}

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Callable[..., Any]:
        seen["status"], seen["headers"] = status, headers
        return lambda data: None

    result = app(environ, start_response)
    try:
        body = b"".join(result)
    finally:
        if hasattr(result, "close"):
            result.close()
    return seen["status"], seen["headers"], body


def hello_app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterator[bytes]:
    environ["REMOTE_USER"] = "alice"
    start_response("201 Created", [("Content-Type", "text/plain")])
    yield b"hello "
    yield b"world"


def test_wsgi_logs_one_schema_event_per_request(make_logger: Callable[..., KinesisLogger], fake: FakeFirehose) -> None:
    log = make_logger(fake, service_name="shop")
    app = LoglakeWSGIMiddleware(hello_app, log, trusted_proxies=1)
    status, _, body = wsgi_call(
        app,
        REQUEST_METHOD="POST",
        SCRIPT_NAME="/api",
        PATH_INFO="/caf\xc3\xa9",  # PEP 3333: UTF-8 bytes seen as latin-1
        QUERY_STRING="q=1&lang=fr",
        REMOTE_ADDR="10.0.0.2",
        HTTP_X_FORWARDED_FOR="198.51.100.1, 203.0.113.9",
        HTTP_USER_AGENT="curl/8",
        HTTP_REFERER="https://example.com/",
        HTTP_X_REQUEST_ID="req-123",
        HTTP_TRACEPARENT="00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
    )
    assert status == "201 Created" and body == b"hello world"
    event = one_event(log, fake)
    assert set(event) <= SCHEMA_FIELDS
    assert event["request_id"] == "req-123"
    assert (event["method"], event["path"], event["query_params"]) == ("POST", "/api/café", "q=1&lang=fr")
    assert (event["status_code"], event["bytes_sent"], event["level"]) == (201, 11, "INFO")
    assert event["ip_address"] == "203.0.113.9"
    assert (event["user_agent"], event["referer"], event["user_id"]) == (
        "curl/8",
        "https://example.com/",
        "alice",
    )
    assert event["trace_id"].startswith("00-4bf92f35")
    assert isinstance(event["latency_ms"], float) and event["latency_ms"] >= 0
    assert event["service_name"] == "shop"


def test_wsgi_makes_a_request_id_and_can_echo_it(make_logger: Callable[..., KinesisLogger], fake: FakeFirehose) -> None:
    log = make_logger(fake)
    seen: dict[str, Any] = {}

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        seen["rid"] = environ["loglake.request_id"]
        start_response("200 OK", [])
        return [b"ok"]

    _, headers, _ = wsgi_call(
        LoglakeWSGIMiddleware(app, log, echo_request_id=True, user_id=lambda env: 42),
        HTTP_X_REQUEST_ID="not a valid id\r\nX-Injected: 1",
        HTTP_X_AMZN_TRACE_ID="Root=1-5759e988-bd862e3fe1be46a994272793",
        REMOTE_ADDR="127.0.0.1",
    )
    event = one_event(log, fake)
    assert uuid.UUID(event["request_id"]) and event["request_id"] == seen["rid"]
    assert ("X-Request-Id", seen["rid"]) in headers
    assert event["trace_id"] == "Root=1-5759e988-bd862e3fe1be46a994272793"
    assert event["user_id"] == "42" and event["ip_address"] == "127.0.0.1"


def test_wsgi_logs_a_500_when_the_app_raises_and_re_raises(
    make_logger: Callable[..., KinesisLogger], fake: FakeFirehose
) -> None:
    log = make_logger(fake)

    def broken(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        wsgi_call(LoglakeWSGIMiddleware(broken, log))
    event = one_event(log, fake)
    assert (event["status_code"], event["level"], event["bytes_sent"]) == (500, "ERROR", 0)


def test_wsgi_counts_bytes_of_the_legacy_write_callable_and_closes_the_app_iterable(
    make_logger: Callable[..., KinesisLogger], fake: FakeFirehose
) -> None:
    log = make_logger(fake)
    closed = []

    class Body:
        def __iter__(self) -> Iterator[bytes]:
            yield b"abc"

        def close(self) -> None:
            closed.append(True)

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Body:
        write = start_response("200 OK", [])
        write(b"12345")
        return Body()

    wsgi_call(LoglakeWSGIMiddleware(app, log))
    assert closed == [True]
    assert one_event(log, fake)["bytes_sent"] == 8


def test_flask_integration(make_logger: Callable[..., KinesisLogger], fake: FakeFirehose) -> None:
    flask = pytest.importorskip("flask")
    log = make_logger(fake, service_name="flask-app")
    app = flask.Flask("demo")

    @app.post("/orders/<oid>")
    def order(oid: str) -> tuple[str, int]:
        return f"order {oid}", 202

    app.wsgi_app = LoglakeWSGIMiddleware(app.wsgi_app, log)  # type: ignore[method-assign]
    response = app.test_client().post("/orders/7?x=1", data=b"secret body", headers={"User-Agent": "t/1"})
    assert response.status_code == 202
    response.close()  # what a WSGI server does once the body is sent: the event is logged then
    event = one_event(log, fake)
    assert (event["path"], event["query_params"], event["status_code"]) == ("/orders/7", "x=1", 202)
    assert event["bytes_sent"] == len(b"order 7") and event["user_agent"] == "t/1"
    assert "secret body" not in str(event)


# --------------------------------------------------------------------------- ASGI


def starlette_app(log: KinesisLogger, **options: Any) -> Any:
    from starlette.applications import Starlette
    from starlette.responses import PlainTextResponse, StreamingResponse
    from starlette.routing import Route

    async def items(request: Any) -> PlainTextResponse:
        return PlainTextResponse(f"item {request.path_params['iid']} {request.scope['loglake.request_id']}")

    async def stream(request: Any) -> StreamingResponse:
        async def chunks() -> Any:
            for part in (b"a" * 10, b"b" * 20, b"c" * 30):
                yield part

        return StreamingResponse(chunks(), status_code=206)

    async def boom(request: Any) -> None:
        raise RuntimeError("boom")

    app = Starlette(
        routes=[
            Route("/items/{iid}", items, methods=["GET", "POST"]),
            Route("/stream", stream),
            Route("/boom", boom),
        ]
    )
    app.add_middleware(LoglakeASGIMiddleware, logger=log, **options)
    return app


def asgi_request(
    app: Any,
    method: str,
    path: str,
    *,
    query: bytes = b"",
    headers: dict[str, str] | None = None,
    body: bytes = b"",
) -> tuple[int, dict[str, str], bytes]:
    """Drive an ASGI app the way a server does (no HTTP client library needed)."""
    import asyncio

    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method, "scheme": "http",
        "path": path, "raw_path": path.encode(), "query_string": query, "root_path": "",
        "headers": [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in (headers or {}).items()],
        "client": ("192.0.2.10", 51000), "server": ("testserver", 80),
    }  # fmt: skip
    messages = [{"type": "http.request", "body": body, "more_body": False}]
    out: dict[str, Any] = {"status": None, "headers": {}, "body": b""}

    async def receive() -> dict[str, Any]:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            out["status"] = message["status"]
            out["headers"] = {k.decode(): v.decode() for k, v in message.get("headers", [])}
        elif message["type"] == "http.response.body":
            out["body"] += message.get("body", b"")

    async def run() -> None:
        # Starlette re-raises after sending its 500 page, for the server to log.
        with contextlib.suppress(RuntimeError):
            await app(scope, receive, send)

    asyncio.run(run())
    return out["status"], out["headers"], out["body"]


def test_asgi_logs_one_schema_event_per_request(make_logger: Callable[..., KinesisLogger], fake: FakeFirehose) -> None:
    log = make_logger(fake, service_name="api")
    status, headers, body = asgi_request(
        starlette_app(log, trusted_proxies=2, echo_request_id=True),
        "POST",
        "/items/42",
        query=b"full=true",
        body=b"secret body",
        headers={
            "X-Request-Id": "abc-1",
            "X-Forwarded-For": "198.51.100.1, 203.0.113.5, 10.1.1.1",
            "User-Agent": "pytest",
            "Referer": "https://ref.example/",
            "X-Amzn-Trace-Id": "Root=1-abc",
        },
    )
    assert status == 200 and headers["x-request-id"] == "abc-1"
    assert body == b"item 42 abc-1"
    event = one_event(log, fake)
    assert set(event) <= SCHEMA_FIELDS
    assert (event["method"], event["path"], event["query_params"]) == ("POST", "/items/42", "full=true")
    assert (event["status_code"], event["bytes_sent"]) == (200, len(body))
    assert (event["ip_address"], event["trace_id"]) == ("203.0.113.5", "Root=1-abc")
    assert event["referer"] == "https://ref.example/"
    assert event["request_id"] == "abc-1" and event["service_name"] == "api"
    assert "secret body" not in str(event)


def test_asgi_streams_count_every_chunk_and_errors_log_500(
    make_logger: Callable[..., KinesisLogger], fake: FakeFirehose
) -> None:
    log = make_logger(fake)
    app = starlette_app(log, user_id=lambda scope: "u-9")
    assert asgi_request(app, "GET", "/stream")[0] == 206
    assert asgi_request(app, "GET", "/boom")[0] == 500
    assert log.flush()
    streamed, failed = fake.events()
    assert (streamed["status_code"], streamed["bytes_sent"], streamed["user_id"]) == (206, 60, "u-9")
    assert (failed["status_code"], failed["level"]) == (500, "ERROR")
    assert streamed["ip_address"] == "192.0.2.10"


def test_asgi_passes_websocket_and_lifespan_scopes_through() -> None:
    import asyncio

    seen: list[str] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.append(scope["type"])

    class Sink:
        def log(self, level: str, event: dict[str, Any]) -> None:  # pragma: no cover - must not be called
            raise AssertionError("non-HTTP scopes are not access-logged")

    middleware = LoglakeASGIMiddleware(app, Sink())  # type: ignore[arg-type]
    for kind in ("websocket", "lifespan"):
        asyncio.run(middleware({"type": kind}, None, None))  # type: ignore[arg-type]
    assert seen == ["websocket", "lifespan"]


def test_asgi_never_touches_receive() -> None:
    import asyncio

    events: list[dict[str, Any]] = []

    class Sink:
        def log(self, level: str, event: dict[str, Any]) -> None:
            events.append(event)

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    async def receive() -> Any:
        raise AssertionError("the middleware read the request body")

    sent: list[Any] = []

    async def send(message: Any) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": "DELETE",
        "path": "/x",
        "query_string": b"",
        "headers": [],
        "client": None,
    }
    asyncio.run(LoglakeASGIMiddleware(app, Sink())(scope, receive, send))  # type: ignore[arg-type]
    assert [e["status_code"] for e in events] == [204] and "ip_address" not in events[0]


@pytest.mark.parametrize(
    ("peer", "header", "trusted", "expected"),
    [
        ("10.0.0.1", None, 1, "10.0.0.1"),
        ("10.0.0.1", "1.1.1.1", 0, "10.0.0.1"),
        ("10.0.0.1", "6.6.6.6, 1.1.1.1", 1, "1.1.1.1"),  # the client forged 6.6.6.6
        ("10.0.0.1", "1.1.1.1", 2, "10.0.0.1"),  # fewer hops than proxies: not trusted
        ("10.0.0.1", "[2001:db8::1]:443, 1.1.1.1:8080", 2, "2001:db8::1"),
        ("10.0.0.1", "2001:db8::2", 1, "2001:db8::2"),
        (None, None, 0, None),
    ],
)
def test_client_ip_trusts_only_the_configured_number_of_proxies(
    peer: str | None, header: str | None, trusted: int, expected: str | None
) -> None:
    assert client_ip(peer, header, trusted) == expected
