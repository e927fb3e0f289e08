"""Where the compactor keeps its generations, and what each one records (see :mod:`loglake.compact`).

::

    tables/<table>/_compacted/service_name=S/year=Y/month=M/day=D/hour=H/gen-<UTC time>-<hash>/
        part-00000.parquet …
        _manifest.json

The ``_compacted`` folder is hidden by the Hive convention (a leading ``_``) and lies outside every partition's
base folder, so no reader of a base location ever lists a generation, and vice versa. A generation's name
carries its creation time (what the deletion delay is measured from) and a hash of its inputs.

Example
-------
>>> name = generation_name(1_795_352_400_000, [("tables/…/part-a.parquet", 123)])
>>> name.startswith("gen-20261122T130000Z-"), generation_created_ms(name)
(True, 1795352400000)
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

import orjson

from loglake.partitions import Partition, table_prefix

COMPACTED_DIR: Final = "_compacted"
MANIFEST_NAME: Final = "_manifest.json"


def generations_root(partition: Partition) -> str:
    """``tables/<table>/_compacted/<k=v/…>/``: where the partition's generations live."""
    return f"{table_prefix(partition.table)}{COMPACTED_DIR}/" + partition.prefix[len(table_prefix(partition.table)) :]


def generation_name(now_ms: int, inputs: Iterable[tuple[str, int]]) -> str:
    """``gen-<UTC time>-<hash of the inputs>``: ordered by creation, and unique per input set."""
    digest = hashlib.sha256(orjson.dumps(sorted(inputs))).hexdigest()[:12]
    return f"gen-{datetime.fromtimestamp(now_ms / 1000, tz=UTC):%Y%m%dT%H%M%SZ}-{digest}"


def generation_created_ms(name: str) -> int | None:
    """The creation time encoded in a generation's name, or None if the name is not one."""
    parts = name.split("-")
    if len(parts) != 3 or parts[0] != "gen":
        return None
    try:
        return int(datetime.strptime(parts[1], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC).timestamp() * 1000)
    except ValueError:
        return None


def is_data_name(name: str) -> bool:
    """A visible Parquet file (Hive convention: names starting with ``_`` or ``.`` are hidden)."""
    return name.endswith(".parquet") and not name.startswith(("_", "."))


@dataclass
class Manifest:
    """What a generation holds; written after its files, so its presence means the generation is complete."""

    generation: str
    partition: dict[str, str]
    created_ms: int
    files: dict[str, int]  # file name → rows
    sources: dict[str, int]  # every base file folded in (name → size), this and earlier generations
    inputs: list[str]  # the keys merged or copied into this generation
    previous: str | None  # the location it replaced
    rows: int

    def to_bytes(self) -> bytes:
        return orjson.dumps(self.__dict__, option=orjson.OPT_SORT_KEYS | orjson.OPT_INDENT_2)

    @classmethod
    def from_bytes(cls, data: bytes) -> Manifest:
        return cls(**orjson.loads(data))


__all__ = [
    "COMPACTED_DIR",
    "MANIFEST_NAME",
    "Manifest",
    "generation_created_ms",
    "generation_name",
    "generations_root",
    "is_data_name",
]
