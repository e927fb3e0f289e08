"""The standard analyses, saved as Athena named queries in the loglake workgroup.

Every count is upscaled by ``1 / sample_rate``: a kept row stands for that many requests. Every query scans
the last 24 hours through a predicate on the partition keys only, so Athena prunes partitions; change
``INTERVAL '24' HOUR`` to look further back.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from aws_cdk import aws_athena as athena
from constructs import Construct

from loglake.schema import TABLE_NAME

#: A CTE of the last 24 hours, with each row's weight (the requests it stands for).
_RECENT: Final = """WITH recent AS (
  SELECT *, 1.0 / COALESCE(NULLIF(sample_rate, 0), 1.0) AS weight
  FROM "{database}"."{table}"
  WHERE concat(year, '-', month, '-', day, 'T', hour)
        >= date_format(current_timestamp - INTERVAL '24' HOUR, '%Y-%m-%dT%H')
)"""


@dataclass(frozen=True)
class StandardQuery:
    """One saved analysis: its name in the console, what it answers, and its SQL (``{database}``, …)."""

    key: str
    name: str
    description: str
    sql: str

    def render(self, *, database: str, slow_ms: float) -> str:
        """The SQL for one database, with the slow-request threshold."""
        recent = _RECENT.format(database=database, table=TABLE_NAME)
        return self.sql.format(recent=recent, slow_ms=f"{slow_ms:g}")


STANDARD_QUERIES: Final = (
    StandardQuery(
        key="ErrorRate",
        name="error rate per service per minute",
        description="Requests, 5xx errors and error rate (%) per service and minute, last 24 h, upscaled",
        sql="""{recent}
SELECT service_name,
       date_trunc('minute', "timestamp") AS minute,
       round(sum(weight)) AS requests,
       round(sum(CASE WHEN status_code >= 500 THEN weight ELSE 0 END)) AS errors_5xx,
       round(100.0 * sum(CASE WHEN status_code >= 500 THEN weight ELSE 0 END) / sum(weight), 3)
         AS error_rate_percent
FROM recent
WHERE status_code IS NOT NULL
GROUP BY service_name, date_trunc('minute', "timestamp")
ORDER BY service_name, minute""",
    ),
    StandardQuery(
        key="P99Latency",
        name="p99 latency per endpoint",
        description="p50/p99 latency (ms) and requests per service, method and path, last 24 h, weighted",
        sql="""{recent}
SELECT service_name,
       method,
       path,
       round(sum(weight)) AS requests,
       approx_percentile(latency_ms, CAST(round(weight) AS BIGINT), 0.5) AS p50_ms,
       approx_percentile(latency_ms, CAST(round(weight) AS BIGINT), 0.99) AS p99_ms
FROM recent
WHERE latency_ms IS NOT NULL
GROUP BY service_name, method, path
HAVING sum(weight) >= 100
ORDER BY p99_ms DESC
LIMIT 100""",
    ),
    StandardQuery(
        key="TopIps",
        name="top client IPs",
        description="Client IPs by requests (upscaled) with their 4xx/5xx share, per service, last 24 h",
        sql="""{recent}
SELECT service_name,
       ip_address,
       round(sum(weight)) AS requests,
       round(100.0 * sum(CASE WHEN status_code >= 400 THEN weight ELSE 0 END) / sum(weight), 2)
         AS error_percent,
       count(DISTINCT path) AS distinct_paths,
       min("timestamp") AS first_seen,
       max("timestamp") AS last_seen
FROM recent
WHERE ip_address IS NOT NULL
GROUP BY service_name, ip_address
ORDER BY requests DESC
LIMIT 50""",
    ),
    StandardQuery(
        key="SlowRequests",
        name="slow requests",
        description="The slowest requests (at least the sampling slow threshold), last 24 h, with trace ids",
        sql="""{recent}
SELECT "timestamp",
       service_name,
       method,
       path,
       status_code,
       latency_ms,
       request_id,
       trace_id,
       weight AS stands_for_requests
FROM recent
WHERE latency_ms >= {slow_ms}
ORDER BY latency_ms DESC
LIMIT 100""",
    ),
    StandardQuery(
        key="StatusMix",
        name="status mix per service",
        description="Share of 1xx-5xx responses per service (upscaled), last 24 h",
        sql="""{recent}
SELECT service_name,
       substr(CAST(status_code AS VARCHAR), 1, 1) || 'xx' AS status_class,
       round(sum(weight)) AS requests,
       round(100.0 * sum(weight) / sum(sum(weight)) OVER (PARTITION BY service_name), 2) AS percent
FROM recent
WHERE status_code IS NOT NULL
GROUP BY service_name, substr(CAST(status_code AS VARCHAR), 1, 1) || 'xx'
ORDER BY service_name, status_class""",
    ),
)


class StandardQueries(Construct):
    """The :data:`STANDARD_QUERIES`, saved in ``workgroup`` against ``database``.

    Attributes
    ----------
    queries:
        ``key`` → the ``AWS::Athena::NamedQuery``.
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        database: str,
        workgroup: athena.CfnWorkGroup,
        slow_ms: float,
        prefix: str,
    ) -> None:
        super().__init__(scope, id)
        self.queries: dict[str, athena.CfnNamedQuery] = {}
        for q in STANDARD_QUERIES:
            named = athena.CfnNamedQuery(
                self,
                q.key,
                name=f"{prefix}: {q.name}",
                description=q.description,
                database=database,
                work_group=workgroup.name,
                query_string=q.render(database=database, slow_ms=slow_ms),
            )
            named.node.add_dependency(workgroup)
            self.queries[q.key] = named
