"""Prometheus in: the remote-write receiver (``/prometheus/api/v1/write``) and the scrape
loop over configured targets (``--scrape-config``), one periodic task per job
(``scrape:<job>``); with self-monitoring on, vigil's own ``/metrics`` is scraped into
itself too (task ``scrape:vigil``, every ``--self-metrics-interval``; read in-process, so
no API key or socket is involved). The PromQL API's routes may join this pillar; keep
each part to a few lines here."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.routing import Route

from vigil.ingest.overload import Refusal
from vigil.ingest.prom import scrape_config
from vigil.ingest.prom.handler import MetadataCache, RemoteWriteHandler, commit
from vigil.ingest.prom.scrape import Commit, Scraper
from vigil.ingest.prom.scrape_config import ScrapeJob, Target
from vigil.ingest.prom.series import SeriesBatch
from vigil.model.common import DEFAULT_TENANT
from vigil.pillar import Core, Pillar
from vigil.tasks import Task

SELF_JOB = "vigil"


def build(core: Core) -> Pillar:
    cfg = core.config
    cache = MetadataCache()
    write = RemoteWriteHandler(
        core.pipeline, core.metrics, cache, max_body_bytes=cfg.max_body_bytes, clock=core.clock
    )

    async def store(batch: SeriesBatch) -> Refusal | None:
        return await commit(
            core.pipeline, cache, batch, core.metrics, "prometheus_scrape", core.clock()
        )

    jobs = scrape_config.load(cfg.scrape_config) if cfg.scrape_config else []
    scraper = Scraper(store, core.clock, DEFAULT_TENANT)
    tasks = [Task(f"scrape:{job.name}", _pass(scraper, job), job.interval) for job in jobs]
    if cfg.self_metrics:
        tasks.append(_self_scrape(core, store))

    async def stop() -> None:
        await scraper.close()

    return Pillar(
        name="prometheus",
        routes=[Route("/prometheus/api/v1/write", write.handle, methods=["POST"])],
        tasks=tasks,
        on_stop=[stop],
    )


def _pass(scraper: Scraper, job: ScrapeJob) -> Callable[[], Awaitable[None]]:
    async def run() -> None:
        await scraper.scrape_job(job)

    return run


def _self_scrape(core: Core, store: Commit) -> Task:
    async def fetch(_target: Target, _timeout: float) -> tuple[str, str]:
        return "text/plain; version=0.0.4", core.metrics.render().decode()

    scraper = Scraper(store, core.clock, DEFAULT_TENANT, fetch=fetch)

    async def run() -> None:
        instance = core.addresses.get("http", "vigil")
        job = ScrapeJob(
            SELF_JOB,
            core.config.self_metrics_interval,
            10.0,
            targets=[Target("vigil:/metrics", {"instance": instance, "job": SELF_JOB})],
        )
        await scraper.scrape_job(job)

    return Task(f"scrape:{SELF_JOB}", run, core.config.self_metrics_interval)
