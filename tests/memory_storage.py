"""An in-memory Storage for pure tests of the converter and the compactor (the lake as a dict)."""

from __future__ import annotations

from collections.abc import Iterator

from loglake.errors import StorageError
from loglake.storage import ObjectInfo


class MemoryStorage:
    """Keys → bytes, with the Storage port's methods; records every write and delete."""

    def __init__(self, uri: str = "s3://memory-lake") -> None:
        self.uri = uri
        self.objects: dict[str, bytes] = {}
        self.puts: list[str] = []
        self.deletes: list[str] = []

    def get(self, key: str) -> bytes:
        try:
            return self.objects[key]
        except KeyError:
            raise StorageError(f"no object {key!r} in {self.uri}") from None

    def put(self, key: str, data: bytes) -> None:
        self.objects[key] = bytes(data)
        self.puts.append(key)

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        for key in sorted(self.objects):
            if key.startswith(prefix):
                yield ObjectInfo(key, len(self.objects[key]))

    def delete(self, keys: list[str]) -> None:
        for key in keys:
            self.objects.pop(key, None)
            self.deletes.append(key)

    def location(self, key: str) -> str:
        return f"{self.uri}/{key}"

    def under(self, prefix: str) -> dict[str, bytes]:
        return {k: v for k, v in self.objects.items() if k.startswith(prefix)}
