"""ASGI middleware (Starlette, FastAPI, any ASGI 3 app): one access-log event per HTTP request."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from loglake_client.logger import KinesisLogger
from loglake_client.middleware._common import access_event, client_ip, level_for, request_id

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

#: Key under which the request id is put in the ASGI scope for the application to use.
SCOPE_KEY = "loglake.request_id"


def _default_user_id(scope: Scope) -> Any:
    user = scope.get("user")  # Starlette's AuthenticationMiddleware
    if user is not None and getattr(user, "is_authenticated", False):
        return getattr(user, "identity", None) or getattr(user, "display_name", None)
    return None


class LoglakeASGIMiddleware:
    """Wrap an ASGI application to log one access event per HTTP request to a :class:`KinesisLogger`.

    The event is logged when the last body chunk has been handed to the server (or when the app finishes or
    fails), so ``latency_ms`` covers streaming responses. ``receive`` is passed through untouched: the request
    body is never read. Websocket and lifespan scopes pass straight through.

    Parameters
    ----------
    app:
        The ASGI application.
    logger:
        Where the events go.
    trusted_proxies:
        How many proxies in front of the app append to ``X-Forwarded-For`` (0: use the peer address).
    user_id:
        Called with the scope after the response; returns the user id or ``None``. Default: the identity of
        an authenticated ``scope["user"]`` (Starlette's authentication middleware).
    echo_request_id:
        Add ``x-request-id`` to the response headers.

    Examples
    --------
    Starlette / FastAPI::

        app.add_middleware(LoglakeASGIMiddleware, logger=log, trusted_proxies=1)
    """

    def __init__(
        self,
        app: ASGIApp,
        logger: KinesisLogger,
        *,
        trusted_proxies: int = 0,
        user_id: Callable[[Scope], Any] | None = None,
        echo_request_id: bool = False,
    ) -> None:
        self.app = app
        self.logger = logger
        self.trusted_proxies = trusted_proxies
        self.user_id = user_id or _default_user_id
        self.echo_request_id = echo_request_id

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope.get("type") != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        headers: dict[str, str] = {}
        for name, value in scope.get("headers") or ():
            key = name.decode("latin-1").lower()
            text = value.decode("latin-1")
            headers[key] = f"{headers[key]},{text}" if key in headers else text
        rid = request_id(headers.get("x-request-id"))
        scope[SCOPE_KEY] = rid
        status: int | None = None
        sent = 0
        logged = False

        def log() -> None:
            nonlocal logged
            if logged:
                return
            logged = True
            with contextlib.suppress(Exception):  # logging must never break the response
                self._log(scope, headers, rid, 500 if status is None else status, sent, started)

        async def send_wrapper(message: Message) -> None:
            nonlocal status, sent
            kind = message.get("type")
            if kind == "http.response.start":
                status = int(message.get("status", 0))
                if self.echo_request_id:
                    message = dict(message)
                    message["headers"] = [*message.get("headers", []), (b"x-request-id", rid.encode())]
            elif kind == "http.response.body":
                sent += len(message.get("body", b""))
            await send(message)
            if kind == "http.response.body" and not message.get("more_body", False):
                log()

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            log()

    def _log(self, scope: Scope, headers: dict[str, str], rid: str, status: int, sent: int, started: float) -> None:
        try:
            uid = self.user_id(scope)
        except Exception:
            uid = None
        client = scope.get("client")
        event = access_event(
            request_id=rid,
            method=scope.get("method", ""),
            path=scope.get("path", ""),
            query=(scope.get("query_string") or b"").decode("latin-1"),
            status=status,
            latency_ms=(time.perf_counter() - started) * 1000.0,
            bytes_sent=sent,
            ip_address=client_ip(client[0] if client else None, headers.get("x-forwarded-for"), self.trusted_proxies),
            user_agent=headers.get("user-agent"),
            referer=headers.get("referer"),
            trace_id=headers.get("x-amzn-trace-id") or headers.get("traceparent"),
            user_id=uid,
        )
        self.logger.log(level_for(status), event)
