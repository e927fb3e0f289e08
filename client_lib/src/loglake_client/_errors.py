"""The exceptions and warnings of loglake-client.

Only configuration mistakes raise, and only from constructors: logging calls never raise into the
application. Delivery trouble is reported as a :class:`DeliveryWarning` and in the logger's ``stats``.
"""

from __future__ import annotations


class LoglakeClientError(Exception):
    """Base class of every loglake-client error."""


class ConfigurationError(LoglakeClientError, ValueError):
    """A constructor argument is invalid; the message names it and says what is allowed."""


class DeliveryWarning(UserWarning):
    """Events were dropped, spooled or could not be delivered after retries.

    Issued from the worker thread at most once per ``warn_interval`` seconds per kind of trouble, with
    the count of events concerned. Turn it into log records with :func:`logging.captureWarnings`, or
    silence it with ``warnings.simplefilter("ignore", DeliveryWarning)``; the counters in ``stats`` stay
    exact either way.
    """
