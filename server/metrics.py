"""/metrics: Prometheus text (format 0.0.4) from `EngineStatistics` plus this server's request counters.

Request latency is the time from the request's arrival to the end of its response body, so a long export
or tail counts its whole stream. Routes are labelled by their template (`/api/v1/fields/{name}/values`),
never by the raw path, so label values stay few.
"""

from __future__ import annotations

import bisect
import dataclasses
from collections import defaultdict

# Seconds. Dense below 50 ms, where single-log ingest and searches should sit.
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

ROUTES = (
    "/",
    "/api/v1/logs",
    "/api/v1/search",
    "/api/v1/export",
    "/api/v1/histogram",
    "/api/v1/fields",
    "/api/v1/fields/{name}/values",
    "/api/v1/tail",
    "/healthz",
    "/metrics",
    "/openapi.json",
    "/static/{path}",
)
_EXACT_ROUTES = frozenset(r for r in ROUTES if "{" not in r)


def route_label(path: str) -> str:
    """The route template `path` belongs to, or "other" (404s, probes) so labels stay bounded."""
    if path in _EXACT_ROUTES:
        return path
    if path.startswith("/static/"):
        return "/static/{path}"
    if path.startswith("/api/v1/fields/") and path.endswith("/values"):
        return "/api/v1/fields/{name}/values"
    return "other"


class _Histogram:
    __slots__ = ("counts", "sum")

    def __init__(self) -> None:
        self.counts = [0] * (len(LATENCY_BUCKETS) + 1)  # the last one is +Inf
        self.sum = 0.0


class RequestMetrics:
    """Counters and latency histograms of HTTP requests. Touched only from the trio thread: no lock."""

    def __init__(self) -> None:
        self.requests: defaultdict[tuple[str, str, int], int] = defaultdict(int)
        self.latency: defaultdict[str, _Histogram] = defaultdict(_Histogram)
        self.in_flight = 0
        self.tail_clients = 0
        self.tail_dropped = 0

    def observe(self, route: str, method: str, status: int, seconds: float) -> None:
        self.requests[(route, method, status)] += 1
        hist = self.latency[route]
        hist.counts[bisect.bisect_left(LATENCY_BUCKETS, seconds)] += 1
        hist.sum += seconds


# EngineStatistics field -> (metric name, type, help). Fields not listed here still appear, as gauges
# named strata_<field>, so a new statistic shows up without touching this file.
_ENGINE_METRICS = {
    "logs": ("strata_logs", "gauge", "Logs stored."),
    "segments": ("strata_segments", "gauge", "Segment files in use."),
    "memtable_logs": ("strata_memtable_logs", "gauge", "Logs in memory not yet written to a segment."),
    "bytes_on_disk": ("strata_disk_bytes", "gauge", "Bytes used on disk (segments and WAL)."),
    "wal_bytes": ("strata_wal_bytes", "gauge", "Bytes in the write-ahead log."),
    "oldest_ns": ("strata_oldest_log_timestamp_seconds", "gauge", "Time of the oldest stored log."),
    "newest_ns": ("strata_newest_log_timestamp_seconds", "gauge", "Time of the newest stored log."),
    "appended_logs_total": ("strata_ingested_logs_total", "counter", "Logs ingested since start."),
    "appended_bytes_total": ("strata_ingested_bytes_total", "counter", "Bytes of logs ingested since start."),
    "fsyncs_total": ("strata_wal_fsyncs_total", "counter", "WAL fsync calls."),
    "fsync_seconds_total": ("strata_wal_fsync_seconds_total", "counter", "Time spent in WAL fsync."),
    "flushes_total": ("strata_flushes_total", "counter", "Memtables written as segments."),
    "merges_total": ("strata_merges_total", "counter", "Segment merges done."),
}


def _number(value: object) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    return repr(float(value))  # type: ignore[arg-type]


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def render(stats: object | None, requests: RequestMetrics) -> str:
    """Prometheus text for an `EngineStatistics` (None when the engine is closed) and the request metrics."""
    out: list[str] = []

    def head(name: str, kind: str, help_text: str) -> None:
        out.append(f"# HELP {name} {help_text}")
        out.append(f"# TYPE {name} {kind}")

    if stats is not None:
        for f in dataclasses.fields(stats):  # type: ignore[arg-type]
            value = getattr(stats, f.name)
            if value is None or not isinstance(value, int | float):
                continue
            name, kind, help_text = _ENGINE_METRICS.get(f.name, (f"strata_{f.name}", "gauge", f.name))
            if f.name.endswith("_ns"):
                value = value / 1e9
            head(name, kind, help_text)
            out.append(f"{name} {_number(value)}")

    head("strata_http_requests_total", "counter", "HTTP requests answered, by route, method and status.")
    for (route, method, status), count in sorted(requests.requests.items()):
        out.append(
            f'strata_http_requests_total{{route="{_label(route)}",method="{_label(method)}",status="{status}"}} {count}'
        )
    head("strata_http_request_duration_seconds", "histogram", "Time from request to the end of its response.")
    for route, hist in sorted(requests.latency.items()):
        cumulative = 0
        for bound, count in zip((*LATENCY_BUCKETS, float("inf")), hist.counts, strict=True):
            cumulative += count
            le = "+Inf" if bound == float("inf") else repr(bound)
            out.append(f'strata_http_request_duration_seconds_bucket{{route="{route}",le="{le}"}} {cumulative}')
        out.append(f'strata_http_request_duration_seconds_sum{{route="{route}"}} {_number(hist.sum)}')
        out.append(f'strata_http_request_duration_seconds_count{{route="{route}"}} {cumulative}')
    head("strata_http_requests_in_flight", "gauge", "Requests being answered now.")
    out.append(f"strata_http_requests_in_flight {requests.in_flight}")
    head("strata_tail_clients", "gauge", "Clients connected to /api/v1/tail.")
    out.append(f"strata_tail_clients {requests.tail_clients}")
    head("strata_tail_dropped_logs_total", "counter", "Logs dropped for tail clients too slow to keep up.")
    out.append(f"strata_tail_dropped_logs_total {requests.tail_dropped}")
    return "\n".join(out) + "\n"
