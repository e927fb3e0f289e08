"""A local stand-in for the Firehose endpoint: answers PutRecord/PutRecordBatch after a set latency.

It listens on 127.0.0.1 only and speaks just enough of the JSON 1.1 protocol for a real boto3 client.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as a real endpoint
    # Without TCP_NODELAY the headers and the body go out in two segments and the client's delayed ACK adds
    # ~40 ms to every answer: a cost real endpoints do not have, which would flatter the comparison.
    disable_nagle_algorithm = True
    latency = 0.0

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        time.sleep(self.latency)
        target = self.headers.get("X-Amz-Target", "")
        answer: dict[str, Any]
        if target.endswith("PutRecordBatch"):
            count = len(json.loads(body).get("Records", []))
            answers = [{"RecordId": "r"}] * count
            answer = {"FailedPutCount": 0, "Encrypted": False, "RequestResponses": answers}
        else:
            answer = {"RecordId": "r", "Encrypted": False}
        data = json.dumps(answer).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/x-amz-json-1.1")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class StubFirehose:
    """``with StubFirehose(latency=0.01) as url:`` serves a fake Firehose endpoint at ``url``."""

    def __init__(self, latency: float) -> None:
        handler = type("Handler", (_Handler,), {"latency": latency})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> str:
        self._thread.start()
        return f"http://127.0.0.1:{self._server.server_port}"

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
