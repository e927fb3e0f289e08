"""CloudWatch Logs subscription payloads delivered through Firehose.

Each Firehose record holds one gzip-compressed JSON envelope::

    {"messageType": "DATA_MESSAGE", "owner": "123456789012", "logGroup": "/aws/lambda/shop",
     "logStream": "2026/11/22/[$LATEST]abc", "subscriptionFilters": ["loglake"],
     "logEvents": [{"id": "3591…", "timestamp": 1795341600000, "message": "{\\"path\\": \\"/\\"…}"}]}

``CONTROL_MESSAGE`` envelopes (sent when a subscription is created) carry no log events: they are counted
and dropped. Each log event's ``message`` is decoded like a line of any record (JSON or an access-log
line); Lambda's text format ``<time>\\t<request id>\\t<LEVEL>\\t{json}`` is read from its JSON part. The log
event's ``timestamp`` fills a missing ``timestamp`` and the log group and stream are kept in ``extra``.
"""

from __future__ import annotations

import zlib
from typing import Any, Final

import orjson

from loglake.errors import RecordError

#: Decompressed size above which a gzip payload is refused (CloudWatch Logs sends at most 1 MB compressed).
MAX_DECOMPRESSED_BYTES: Final = 64 * 1024 * 1024
GZIP_MAGIC: Final = b"\x1f\x8b"


def gunzip(data: bytes, limit: int = MAX_DECOMPRESSED_BYTES) -> bytes:
    """Decompress one or more concatenated gzip members, refusing to expand past ``limit`` bytes.

    Raises
    ------
    RecordError
        When the stream is corrupt, truncated or expands too far (a "zip bomb").
    """
    out: list[bytes] = []
    size = 0
    rest = data
    while rest:
        d = zlib.decompressobj(wbits=31)
        try:
            chunk = d.decompress(rest, limit - size + 1)
        except zlib.error as exc:
            raise RecordError(f"gzip payload cannot be decompressed: {exc}") from None
        size += len(chunk)
        if size > limit or d.unconsumed_tail:
            raise RecordError(f"gzip payload expands beyond {limit:,} bytes; send smaller records")
        out.append(chunk)
        if not d.eof:
            raise RecordError("gzip payload is truncated: the data ended before the gzip trailer")
        rest = d.unused_data
        if rest[:2] != GZIP_MAGIC:
            if rest.strip(b"\x00"):
                raise RecordError("gzip payload has trailing bytes that are not another gzip member")
            break
    return b"".join(out)


def is_envelope(data: bytes) -> bool:
    """A cheap test: does this decompressed JSON look like a CloudWatch Logs subscription envelope?"""
    return data[:1] == b"{" and b'"messageType"' in data[:4096]


def parse_envelope(data: bytes) -> dict[str, Any]:
    """The envelope as a dict; raises :class:`RecordError` if it is not one."""
    try:
        payload = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise RecordError(f"CloudWatch Logs payload is not valid JSON: {exc}") from None
    if not isinstance(payload, dict) or not isinstance(payload.get("messageType"), str):
        raise RecordError("CloudWatch Logs payload has no messageType")
    return payload


def message_json_part(message: str) -> str | None:
    """The JSON object of a Lambda text-format line (``<time>\\t<request id>\\t<LEVEL>\\t{…}``), if any."""
    tab = message.find("\t{")
    if tab < 0 or not message.rstrip().endswith("}"):
        return None
    return message[tab + 1 :]
