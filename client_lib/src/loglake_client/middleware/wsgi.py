"""WSGI middleware (Flask, Django, any WSGI app): one access-log event per request."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from loglake_client.logger import KinesisLogger
from loglake_client.middleware._common import access_event, client_ip, level_for, request_id

Environ = dict[str, Any]
StartResponse = Callable[..., Callable[[bytes], object]]
WSGIApp = Callable[[Environ, StartResponse], Iterable[bytes]]

#: Key under which the request id is put in the WSGI environ for the application to use.
ENVIRON_KEY = "loglake.request_id"


def _default_user_id(environ: Environ) -> Any:
    return environ.get("REMOTE_USER")


class LoglakeWSGIMiddleware:
    """Wrap a WSGI application to log one access event per request to a :class:`KinesisLogger`.

    The event is logged when the response has been sent (the server closed the response iterable), so
    ``latency_ms`` covers streaming and ``bytes_sent`` counts the body bytes actually produced. The request
    body is never read. The request id (incoming ``X-Request-Id`` if sane, else a new UUID) is put in
    ``environ["loglake.request_id"]``.

    Parameters
    ----------
    app:
        The WSGI application.
    logger:
        Where the events go.
    trusted_proxies:
        How many proxies in front of the app append to ``X-Forwarded-For`` (0: use ``REMOTE_ADDR``).
    user_id:
        Called with the environ after the app ran; returns the user id or ``None``. Default:
        ``environ["REMOTE_USER"]``.
    echo_request_id:
        Add ``X-Request-Id`` to the response headers.

    Examples
    --------
    Flask::

        app.wsgi_app = LoglakeWSGIMiddleware(app.wsgi_app, log, trusted_proxies=1)

    Django (``wsgi.py``)::

        application = LoglakeWSGIMiddleware(get_wsgi_application(), log)
    """

    def __init__(
        self,
        app: WSGIApp,
        logger: KinesisLogger,
        *,
        trusted_proxies: int = 0,
        user_id: Callable[[Environ], Any] | None = None,
        echo_request_id: bool = False,
    ) -> None:
        self.app = app
        self.logger = logger
        self.trusted_proxies = trusted_proxies
        self.user_id = user_id or _default_user_id
        self.echo_request_id = echo_request_id

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        started = time.perf_counter()
        rid = request_id(environ.get("HTTP_X_REQUEST_ID"))
        environ[ENVIRON_KEY] = rid
        state = _State()

        def _start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            try:
                state.status = int(status.split(" ", 1)[0])
            except ValueError:
                state.status = 0
            if self.echo_request_id:
                headers = [*headers, ("X-Request-Id", rid)]
            write = start_response(status, headers, exc_info) if exc_info else start_response(status, headers)

            def _write(data: bytes) -> object:  # the legacy write() callable: count its bytes too
                state.sent += len(data)
                return write(data)

            return _write

        def _log() -> None:
            if state.logged:
                return
            state.logged = True
            with contextlib.suppress(Exception):  # logging must never break the response
                self._log(environ, rid, state, started)

        try:
            result = self.app(environ, _start_response)
        except BaseException:
            if state.status is None:
                state.status = 500
            _log()
            raise
        return _LoggedResponse(result, state, _log)

    def _log(self, environ: Environ, rid: str, state: _State, started: float) -> None:
        try:
            uid = self.user_id(environ)
        except Exception:
            uid = None
        raw_path = environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", "")
        # PEP 3333 hands the path over as latin-1-decoded bytes; recover the UTF-8 text.
        try:
            path = raw_path.encode("latin-1").decode("utf-8")
        except (UnicodeEncodeError, UnicodeDecodeError):
            path = raw_path
        status = state.status if state.status is not None else 500
        event = access_event(
            request_id=rid,
            method=environ.get("REQUEST_METHOD", ""),
            path=path,
            query=environ.get("QUERY_STRING", ""),
            status=status,
            latency_ms=(time.perf_counter() - started) * 1000.0,
            bytes_sent=state.sent,
            ip_address=client_ip(environ.get("REMOTE_ADDR"), environ.get("HTTP_X_FORWARDED_FOR"), self.trusted_proxies),
            user_agent=environ.get("HTTP_USER_AGENT"),
            referer=environ.get("HTTP_REFERER"),
            trace_id=environ.get("HTTP_X_AMZN_TRACE_ID") or environ.get("HTTP_TRACEPARENT"),
            user_id=uid,
        )
        self.logger.log(level_for(status), event)


class _State:
    __slots__ = ("logged", "sent", "status")

    def __init__(self) -> None:
        self.status: int | None = None
        self.sent = 0
        self.logged = False


class _LoggedResponse:
    """The app's response iterable, counting bytes and logging once the server closes it."""

    def __init__(self, result: Iterable[bytes], state: _State, on_close: Callable[[], None]) -> None:
        self._result = result
        self._state = state
        self._on_close = on_close

    def __iter__(self) -> Iterator[bytes]:
        try:
            for chunk in self._result:
                self._state.sent += len(chunk)
                yield chunk
        except BaseException:
            if self._state.status is None:
                self._state.status = 500
            raise

    def close(self) -> None:
        try:
            close = getattr(self._result, "close", None)
            if close is not None:
                close()
        finally:
            self._on_close()
