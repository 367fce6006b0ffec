"""The scrape loop: configured targets (``scrape_config``) → ``SeriesBatch`` → the store.

One pass of a job (``Scraper.scrape_job``, run by the task runner every
``scrape_interval``) fetches every target at once, each within ``scrape_timeout``, and
commits what each returned through the same pipeline and writer as every write. Per target
and pass:

* the body is parsed with ``prometheus_client``'s parsers: OpenMetrics when the target
  answers ``application/openmetrics-text``, the Prometheus text format otherwise (the
  request's ``Accept`` asks for OpenMetrics first, as Prometheus does);
* each sample's labels are the target's (``job``, ``instance``, static and relabelled
  ones) plus its own; on a clash the target's win and the sample's is kept as
  ``exported_<name>`` — unless ``honor_labels``, where the sample's win; then
  ``metric_relabel_configs`` apply, and a series without ``__name__`` is dropped;
* a sample's own timestamp is used when ``honor_timestamps`` (the default), else the
  scrape's start (the injected clock);
* ``up`` (1, or 0 when the fetch or the parse failed: then nothing else is stored),
  ``scrape_duration_seconds``, ``scrape_samples_scraped`` and
  ``scrape_samples_post_metric_relabeling`` are stored with the target's labels;
* metadata (type, help, unit per family; a counter's family is named without
  ``_total`` in OpenMetrics, with it in the text format, as Prometheus) goes to
  ``prom_metadata``; OpenMetrics exemplars to ``prom_exemplars``.

Staleness: vigil stores no stale markers (non-finite values are never stored, see
``series``). When a target disappears (its fetch fails) its ``up`` is 0 from that pass on
and its series simply stop; when a series leaves a target's output it stops too. A PromQL
reader sees the last value for its lookback (5 minutes) rather than an immediate end.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import httpx
from prometheus_client.openmetrics.parser import (
    text_string_to_metric_families as openmetrics_families,
)
from prometheus_client.parser import text_string_to_metric_families as text_families

from vigil.ingest.overload import Refusal
from vigil.ingest.prom.relabel import relabel
from vigil.ingest.prom.scrape_config import ScrapeJob, Target
from vigil.ingest.prom.series import Metadata, SeriesBatch

log = logging.getLogger(__name__)

ACCEPT = (
    "application/openmetrics-text;version=1.0.0;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
)
MAX_SCRAPE_BYTES = 64 * 1024 * 1024

Commit = Callable[[SeriesBatch], Awaitable[Refusal | None]]
Fetch = Callable[[Target, float], Awaitable[tuple[str, str]]]  # (content type, body)


class ScrapeError(Exception):
    pass


def families(body: str, content_type: str) -> list[Any]:
    """The metric families of an exposition; raises ``ScrapeError`` when it is invalid."""
    parse = openmetrics_families if "openmetrics" in content_type else text_families
    try:
        return list(parse(body))
    except Exception as exc:  # the parsers raise ValueError, TypeError, IndexError …
        raise ScrapeError(f"invalid exposition: {exc}") from None


def add_families(
    batch: SeriesBatch,
    fams: Iterable[Any],
    job: ScrapeJob,
    target_labels: dict[str, str],
    scrape_ms: int,
    openmetrics: bool = False,
) -> tuple[int, int]:
    """The families' samples as series of ``batch``; (scraped, kept after relabelling)."""
    scraped = kept = 0
    for family in fams:
        if family.type != "unknown" or family.documentation or family.unit:
            name = family.name
            # The text format's parser drops a counter's _total from the family name;
            # Prometheus names the family as the TYPE line did (OpenMetrics: without it).
            counter = not openmetrics and family.type == "counter" and family.samples
            if counter and family.samples[0].name == name + "_total":
                name += "_total"
            batch.metadata[name] = Metadata(name, family.type, family.documentation, family.unit)
        for sample in family.samples:
            scraped += 1
            labels = _merge(sample.labels, target_labels, job.honor_labels)
            labels["__name__"] = sample.name
            if job.metric_relabel:
                relabelled = relabel(labels, job.metric_relabel)
                if relabelled is None:
                    continue
                labels = relabelled
            name = labels.pop("__name__", "")
            if not name:
                continue
            kept += 1
            ts = scrape_ms
            if job.honor_timestamps and sample.timestamp is not None:
                ts = int(float(sample.timestamp) * 1000)
            dims = sorted((k, v) for k, v in labels.items() if v)
            batch.add(name, dims, [ts], [float(sample.value)])
            exemplar = sample.exemplar
            if exemplar is not None:
                ets = (
                    scrape_ms
                    if exemplar.timestamp is None
                    else int(float(exemplar.timestamp) * 1000)
                )
                batch.exemplars.append(
                    (name, dims, sorted(exemplar.labels.items()), ets, float(exemplar.value))
                )
    return scraped, kept


def _merge(own: dict[str, str], target: dict[str, str], honor: bool) -> dict[str, str]:
    labels = dict(own)
    for key, value in target.items():
        if labels.get(key):
            if honor:
                continue
            labels["exported_" + key] = labels[key]
        labels[key] = value
    return labels


def report(
    batch: SeriesBatch,
    target_labels: dict[str, str],
    scrape_ms: int,
    up: bool,
    seconds: float,
    scraped: int,
    kept: int,
) -> None:
    """The series Prometheus adds to every scrape."""
    dims = sorted(target_labels.items())
    for name, value in (
        ("up", 1.0 if up else 0.0),
        ("scrape_duration_seconds", seconds),
        ("scrape_samples_scraped", float(scraped)),
        ("scrape_samples_post_metric_relabeling", float(kept)),
    ):
        batch.add(name, dims, [scrape_ms], [value])


class Scraper:
    """Scrapes the targets of jobs; ``fetch`` is HTTP by default (tests and vigil's own
    ``/metrics`` may pass another). Event loop only."""

    def __init__(
        self,
        commit: Commit,
        clock: Callable[[], int],
        tenant: str,
        fetch: Fetch | None = None,
    ) -> None:
        self._commit = commit
        self._clock = clock
        self._tenant = tenant
        self._client: httpx.AsyncClient | None = None
        self._fetch = fetch or self._http

    async def scrape_job(self, job: ScrapeJob) -> None:
        results = await asyncio.gather(
            *(self.scrape_target(job, t) for t in job.targets), return_exceptions=True
        )
        refused = [r for r in results if isinstance(r, BaseException)]
        if refused:
            raise refused[0]

    async def scrape_target(self, job: ScrapeJob, target: Target) -> SeriesBatch:
        start = self._clock()
        scrape_ms = start // 1_000_000
        batch = SeriesBatch(self._tenant)
        up, scraped, kept = True, 0, 0
        try:
            ctype, body = await asyncio.wait_for(self._fetch(target, job.timeout), job.timeout)
            scraped, kept = add_families(
                batch, families(body, ctype), job, target.labels, scrape_ms
            )
        except (ScrapeError, httpx.HTTPError, TimeoutError, OSError) as exc:
            log.info("scrape of %s (job %s) failed: %s", target.url, job.name, exc)
            batch = SeriesBatch(self._tenant)
            up, scraped, kept = False, 0, 0
        seconds = max(0.0, (self._clock() - start) / 1e9)
        report(batch, target.labels, scrape_ms, up, seconds, scraped, kept)
        refused = await self._commit(batch)
        if refused is not None:
            # The task runner logs and counts the failure; the next pass scrapes afresh.
            raise RuntimeError(f"scrape of {target.url} not stored: {refused.message}")
        return batch

    async def _http(self, target: Target, timeout: float) -> tuple[str, str]:
        if self._client is None:
            self._client = httpx.AsyncClient(follow_redirects=True)
        headers = {
            "Accept": ACCEPT,
            "X-Prometheus-Scrape-Timeout-Seconds": f"{timeout:g}",
            "User-Agent": "vigil",
        }
        async with self._client.stream("GET", target.url, headers=headers, timeout=timeout) as r:
            if r.status_code != 200:
                raise ScrapeError(f"HTTP status {r.status_code}")
            chunks: list[bytes] = []
            size = 0
            async for chunk in r.aiter_bytes():
                size += len(chunk)
                if size > MAX_SCRAPE_BYTES:
                    raise ScrapeError(f"body over {MAX_SCRAPE_BYTES} bytes")
                chunks.append(chunk)
            try:
                text = b"".join(chunks).decode()
            except UnicodeDecodeError:
                raise ScrapeError("the body is not UTF-8") from None
            return r.headers.get("content-type", "text/plain"), text

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None
