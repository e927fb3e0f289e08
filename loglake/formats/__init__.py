"""Input formats the transformer understands; :func:`loglake.records.decode_record` picks among them."""

from __future__ import annotations

from loglake.formats.cloudwatch import gunzip, parse_envelope
from loglake.formats.combined import parse_clf_time, parse_combined
from loglake.formats.jsonlines import loads_lenient

__all__ = ["gunzip", "loads_lenient", "parse_clf_time", "parse_combined", "parse_envelope"]
