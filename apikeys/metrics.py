"""Prometheus metrics: what the web process counts itself, and gauges read from the database at scrape time.

Two sources, chosen so that several web and worker processes (service mode) give one true picture:

* Queue depth and wait, job outcomes, time to first token and tokens/s are read from the database (the
  ``Job`` and ``Message`` rows every process writes) when Prometheus scrapes, so any web process answers
  for all of them. TTFT and tokens/s are quantiles over the replies of the last METRICS_WINDOW minutes.
* API requests, API replies and open sockets are counted in the web process itself. With several web
  processes set ``PROMETHEUS_MULTIPROC_DIR`` (prometheus-client's multiprocess mode); each scrape then sums
  every process's files.
* GPU memory per worker comes from the reports workers already publish for /healthz (exaone_web.workers).
"""

from __future__ import annotations

import os
import statistics
from collections.abc import Iterator
from datetime import timedelta

from django.db.models import Count, Min
from django.utils import timezone
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

WINDOW = timedelta(minutes=5)

API_REQUESTS = Counter("exaone_api_requests", "Requests to /v1/ by endpoint and status", ["endpoint", "status"])
API_REPLIES = Counter("exaone_api_replies", "Chat completions by outcome", ["outcome"])
API_TTFT = Histogram(
    "exaone_api_time_to_first_token_seconds",
    "Time from the request to its first token, as an API client sees it",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60),
)
API_TOKENS = Counter("exaone_api_completion_tokens", "Tokens generated for API requests")
OPEN_SOCKETS = Gauge("exaone_open_sockets", "Open websockets", multiprocess_mode="livesum")


def api_request(*, endpoint: str, status: int) -> None:
    API_REQUESTS.labels(endpoint=endpoint, status=str(status)).inc()


def chat_finished(*, status: str, ttft_s: float | None, completion_tokens: int, seconds: float) -> None:
    API_REPLIES.labels(outcome=status).inc()
    API_REQUESTS.labels(endpoint="chat_completions", status="200" if status != "abandoned" else "499").inc()
    if ttft_s is not None:
        API_TTFT.observe(ttft_s)
    API_TOKENS.inc(completion_tokens)


def _quantiles(values: list[float]) -> dict[str, float]:
    if not values:
        return {}
    if len(values) == 1:
        return {"0.5": values[0], "0.9": values[0], "0.99": values[0]}
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    return {"0.5": cuts[49], "0.9": cuts[89], "0.99": cuts[98]}


class DatabaseCollector(Collector):
    """Gauges computed from the rows every process writes, at scrape time (bounded queries)."""

    def collect(self) -> Iterator[Metric]:
        from assistant.models import Message
        from exaone_web import workers
        from exaone_web.jobs.models import Job

        now = timezone.now()
        depth = GaugeMetricFamily("exaone_queue_depth", "Jobs waiting per queue", labels=["queue"])
        oldest = GaugeMetricFamily(
            "exaone_queue_oldest_wait_seconds", "How long the oldest waiting job has waited", labels=["queue"]
        )
        waiting = (
            Job.objects.filter(status=Job.Status.QUEUED)
            .values("queue")
            .annotate(n=Count("id"), first=Min("created_at"))
        )
        seen = set()
        for row in waiting:
            seen.add(row["queue"])
            depth.add_metric([row["queue"]], row["n"])
            oldest.add_metric([row["queue"]], (now - row["first"]).total_seconds())
        from exaone_web.jobs.kinds import QUEUES

        for queue in QUEUES:
            if queue not in seen:
                depth.add_metric([queue], 0)
                oldest.add_metric([queue], 0)
        yield depth
        yield oldest

        wait = GaugeMetricFamily(
            "exaone_queue_wait_seconds", "Median wait before a job started, last 5 minutes", labels=["queue"]
        )
        started = Job.objects.filter(started_at__gte=now - WINDOW).values_list("queue", "created_at", "started_at")[
            :5000
        ]
        per_queue: dict[str, list[float]] = {}
        for queue, created, begun in started:
            if begun is None:
                continue
            per_queue.setdefault(queue, []).append((begun - created).total_seconds())
        for queue, values in per_queue.items():
            wait.add_metric([queue], statistics.median(values))
        yield wait

        outcomes = GaugeMetricFamily(
            "exaone_jobs", "Jobs by kind and status among the rows kept (JOBS_KEEP_DAYS)", labels=["kind", "status"]
        )
        for kind, status, count in Job.objects.values_list("kind", "status").annotate(n=Count("id")):
            outcomes.add_metric([kind, status], count)
        yield outcomes

        replies = Message.objects.filter(
            role=Message.Role.ASSISTANT, finished_at__gte=now - WINDOW, ttft_ms__isnull=False
        ).values_list("ttft_ms", "tokens_per_s")[:5000]
        ttft = GaugeMetricFamily(
            "exaone_time_to_first_token_seconds",
            "Engine time to first token, replies of the last 5 minutes",
            labels=["quantile"],
        )
        rate = GaugeMetricFamily(
            "exaone_tokens_per_second", "Decode rate per reply, replies of the last 5 minutes", labels=["quantile"]
        )
        for quantile, value in _quantiles([t / 1000 for t, _r in replies if t is not None]).items():
            ttft.add_metric([quantile], value)
        for quantile, value in _quantiles([r for _t, r in replies if r]).items():
            rate.add_metric([quantile], value)
        yield ttft
        yield rate

        gpu = GaugeMetricFamily(
            "exaone_worker_gpu_memory_used_bytes",
            "GPU memory in use per worker and device",
            labels=["worker", "device"],
        )
        for worker in workers.seen():
            for device in (worker.get("device") or {}).get("devices", []):
                used = device.get("total_mib", 0) - device.get("free_mib", 0)
                gpu.add_metric([worker["id"], str(device.get("index"))], used * 1024 * 1024)
        yield gpu


def render() -> bytes:
    """The exposition text: this process's (or all processes') counters plus the database gauges."""
    from exaone_web import sockets

    OPEN_SOCKETS.set(sum(sockets._open_per_user.values()))
    registry = CollectorRegistry()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.MultiProcessCollector(registry)
    else:
        for collector in (API_REQUESTS, API_REPLIES, API_TTFT, API_TOKENS, OPEN_SOCKETS):
            registry.register(collector)
    registry.register(DatabaseCollector())
    return generate_latest(registry)
