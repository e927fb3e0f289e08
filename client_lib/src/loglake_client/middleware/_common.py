"""What the WSGI and ASGI middleware share: reading proxy headers and building the access-log event."""

from __future__ import annotations

import uuid
from typing import Any, Final

from loglake_client._encoding import FIELD_LIMITS

_ID_CHARS: Final = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.:/+=@")


def request_id(incoming: str | None) -> str:
    """The incoming request id if it is a sane token (≤ 128 URL-safe characters), else a new UUID.

    Examples
    --------
    >>> request_id("abc-123")
    'abc-123'
    >>> len(request_id("bad id\\n"))
    36
    """
    if incoming and len(incoming) <= FIELD_LIMITS["request_id"] and all(ch in _ID_CHARS for ch in incoming):
        return incoming
    return str(uuid.uuid4())


def _strip_port(host: str) -> str:
    host = host.strip()
    if host.startswith("["):  # [v6]:port
        return host[1 : host.find("]")] if "]" in host else host
    if host.count(":") == 1:  # v4:port (a bare IPv6 address has several colons)
        return host.split(":", 1)[0]
    return host


def client_ip(peer: str | None, forwarded_for: str | None, trusted_proxies: int) -> str | None:
    """The client's address, trusting ``X-Forwarded-For`` only as far as ``trusted_proxies`` hops.

    Each trusted proxy appends the address it received the request from, so with ``n`` trusted proxies
    the client is the ``n``-th address from the right; anything further left was written by the client
    and could be forged. With fewer addresses than trusted proxies the header is not trusted and the peer
    address is used.

    Examples
    --------
    >>> client_ip("10.0.0.2", "203.0.113.9, 198.51.100.7", 1)
    '198.51.100.7'
    >>> client_ip("10.0.0.2", "203.0.113.9, 198.51.100.7", 2)
    '203.0.113.9'
    >>> client_ip("10.0.0.2", "203.0.113.9", 0)
    '10.0.0.2'
    """
    if trusted_proxies > 0 and forwarded_for:
        hops = [h.strip() for h in forwarded_for.split(",") if h.strip()]
        if len(hops) >= trusted_proxies:
            return _strip_port(hops[-trusted_proxies])[: FIELD_LIMITS["ip_address"]]
    return peer[: FIELD_LIMITS["ip_address"]] if peer else None


def access_event(
    *,
    request_id: str,
    method: str,
    path: str,
    query: str,
    status: int,
    latency_ms: float,
    bytes_sent: int,
    ip_address: str | None,
    user_agent: str | None,
    referer: str | None,
    trace_id: str | None,
    user_id: Any,
) -> dict[str, Any]:
    """The access-log event of one request in the schema's field names; absent values are left out."""
    event: dict[str, Any] = {
        "request_id": request_id,
        "method": method,
        "path": path,
        "query_params": query,
        "status_code": status,
        "latency_ms": round(latency_ms, 3),
        "bytes_sent": bytes_sent,
    }
    for key, value in (
        ("ip_address", ip_address),
        ("user_agent", user_agent),
        ("referer", referer),
        ("trace_id", trace_id[: FIELD_LIMITS["trace_id"]] if trace_id else None),
        ("user_id", None if user_id is None else str(user_id)),
    ):
        if value:
            event[key] = value
    return event


def level_for(status: int) -> str:
    """``ERROR`` for server errors, ``INFO`` otherwise."""
    return "ERROR" if status >= 500 else "INFO"
