"""The exceptions loglake raises; every one derives from :class:`LoglakeError`."""

from __future__ import annotations


class LoglakeError(Exception):
    """Base class of every loglake error."""


class ConfigError(LoglakeError):
    """A setting is missing or invalid; the message names it and says how to fix it."""


class RecordError(LoglakeError):
    """An input event cannot become a record; the message is the quarantine reason."""


class PartitionKeyError(LoglakeError):
    """An object key does not map to a valid partition of a known table."""


class CatalogError(LoglakeError):
    """The catalog (Athena or the local DuckDB file) refused or failed a statement."""


class StorageError(LoglakeError):
    """An object could not be read from or written to the lake."""
