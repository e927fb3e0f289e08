"""Scripted stand-ins for Athena, shared by the catalog and autoloader tests."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from botocore.exceptions import ClientError


class FakeClock:
    """Time that advances only when the code under test sleeps."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def monotonic(self) -> float:
        return self.now


def throttled(code: str = "TooManyRequestsException") -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": "Rate exceeded"}}, "StartQueryExecution")


class FakeAthena:
    """Answers each call from a script; every query is started and polled like Athena's API."""

    def __init__(self, starts: list[Any] | None = None, states: list[Any] | None = None) -> None:
        self.starts: Iterator[Any] = iter(starts or [])
        self.states: Iterator[Any] = iter(states or [])
        self.queries: list[dict[str, Any]] = []
        self.polls = 0

    def start_query_execution(self, **kwargs: Any) -> dict[str, Any]:
        outcome = next(self.starts, None)
        if isinstance(outcome, Exception):
            raise outcome
        self.queries.append(kwargs)
        return {"QueryExecutionId": f"q{len(self.queries)}"}

    def get_query_execution(self, QueryExecutionId: str) -> dict[str, Any]:
        self.polls += 1
        outcome = next(self.states, "SUCCEEDED")
        if isinstance(outcome, Exception):
            raise outcome
        status = outcome if isinstance(outcome, dict) else {"State": outcome}
        return {"QueryExecution": {"QueryExecutionId": QueryExecutionId, "Status": status}}
