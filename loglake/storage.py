"""The storage port: the lake as keys and bytes, on S3 or in a local directory with the same key layout.

Handlers get a :class:`Storage` from :func:`open_storage` and never learn which one it is. The local
directory behaves like S3 where it matters: writes are atomic (a reader never sees half an object), keys
are ``/``-separated paths relative to the lake root, and every completed write is announced to the
observers registered with :func:`observe` — the embedded runtime turns those into S3 event notifications.
"""

from __future__ import annotations

import builtins
import contextlib
import os
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import unquote, urlparse

from loglake.errors import StorageError


@dataclass(frozen=True, slots=True)
class ObjectInfo:
    key: str
    size: int


class Storage(Protocol):
    """What the pipeline needs from an object store."""

    uri: str

    def get(self, key: str) -> bytes: ...
    def put(self, key: str, data: bytes) -> None: ...
    def list(self, prefix: str = "") -> Iterator[ObjectInfo]: ...
    def delete(self, keys: builtins.list[str]) -> None: ...
    def location(self, key: str) -> str: ...


#: Called as ``observer(storage, key, size)`` after every completed local write.
Observer = Callable[["LocalStorage", str, int], None]
_observers: list[Observer] = []


@contextlib.contextmanager
def observe(observer: Observer) -> Iterator[None]:
    """Register ``observer`` for local writes for the duration of the ``with`` block."""
    _observers.append(observer)
    try:
        yield
    finally:
        _observers.remove(observer)


def _check_key(key: str) -> str:
    if not key or key.startswith("/") or any(part in ("", ".", "..") for part in key.rstrip("/").split("/")):
        raise StorageError(f"object key {key[:200]!r} is not a clean relative key")
    return key


class LocalStorage:
    """A directory as the bucket."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root).resolve()
        self.uri = self.root.as_uri()

    def _path(self, key: str) -> Path:
        return self.root / _check_key(key)

    def get(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError:
            raise StorageError(f"no object {key!r} in {self.uri}") from None

    def put(self, key: str, data: bytes) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        # Write to a hidden temporary name and rename: readers see the old object or the new one, never half.
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
        for observer in list(_observers):
            observer(self, key, len(data))

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        base = self.root / prefix.rsplit("/", 1)[0] if "/" in prefix else self.root
        if not base.is_dir():
            return
        for dirpath, dirnames, filenames in os.walk(base):
            dirnames.sort()
            for name in sorted(filenames):
                if name.startswith(".tmp-"):
                    continue
                full = Path(dirpath, name)
                key = full.relative_to(self.root).as_posix()
                if key.startswith(prefix):
                    yield ObjectInfo(key, full.stat().st_size)

    def delete(self, keys: builtins.list[str]) -> None:
        for key in keys:
            with contextlib.suppress(FileNotFoundError):
                self._path(key).unlink()

    def location(self, key: str) -> str:
        return f"{self.uri}/{key}"


class S3Storage:
    """An S3 bucket (optionally under a key prefix) through boto3; the client is created lazily."""

    def __init__(self, bucket: str, *, client: Any = None) -> None:
        self.bucket = bucket
        self.uri = f"s3://{bucket}"
        self._client = client

    @property
    def client(self) -> Any:
        if self._client is None:
            import boto3

            self._client = boto3.client("s3")
        return self._client

    def get(self, key: str) -> bytes:
        try:
            return self.client.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        except self.client.exceptions.NoSuchKey:
            raise StorageError(f"no object {key!r} in {self.uri}") from None

    def put(self, key: str, data: bytes) -> None:
        self.client.put_object(Bucket=self.bucket, Key=_check_key(key), Body=data)

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
            for obj in page.get("Contents", []):
                yield ObjectInfo(obj["Key"], obj["Size"])

    def delete(self, keys: builtins.list[str]) -> None:
        for start in range(0, len(keys), 1000):  # DeleteObjects takes at most 1,000 keys
            chunk = keys[start : start + 1000]
            self.client.delete_objects(
                Bucket=self.bucket, Delete={"Objects": [{"Key": k} for k in chunk], "Quiet": True}
            )

    def location(self, key: str) -> str:
        return f"{self.uri}/{key}"


def open_storage(lake_uri: str, *, s3_client: Any = None) -> Storage:
    """``s3://bucket`` → :class:`S3Storage`; ``file:///path`` → :class:`LocalStorage`."""
    parsed = urlparse(lake_uri)
    if parsed.scheme == "s3" and parsed.netloc:
        return S3Storage(parsed.netloc, client=s3_client)
    if parsed.scheme == "file":
        return LocalStorage(unquote(parsed.path))
    raise StorageError(f"lake URI {lake_uri!r} is neither s3://bucket nor file:///path")
