"""Access-log middleware: one event per request, in the loglake schema's field names.

- :class:`LoglakeWSGIMiddleware` for Flask, Django and any WSGI app;
- :class:`LoglakeASGIMiddleware` for Starlette, FastAPI and any ASGI 3 app.

Neither imports a web framework, and neither reads request bodies.
"""

from __future__ import annotations

from loglake_client.middleware._common import client_ip, request_id
from loglake_client.middleware.asgi import LoglakeASGIMiddleware
from loglake_client.middleware.wsgi import LoglakeWSGIMiddleware

__all__ = ["LoglakeASGIMiddleware", "LoglakeWSGIMiddleware", "client_ip", "request_id"]
