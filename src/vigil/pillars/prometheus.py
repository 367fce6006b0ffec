"""Prometheus in: the remote-write receiver (``/prometheus/api/v1/write``) and the scrape
loop over configured targets (``--scrape-config``), one periodic task per job
(``scrape:<job>``). vigil's own ``/metrics`` is not scraped here: with self-monitoring on,
the selfwatch pillar stores those counters once, in namespace ``vigil``, where PromQL
reads them too (``vigil.selfwatch``). The PromQL API's routes may join this pillar; keep
each part to a few lines here."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.routing import Route

from vigil.ingest.overload import Refusal
from vigil.ingest.prom import scrape_config
from vigil.ingest.prom.handler import MetadataCache, RemoteWriteHandler, commit
from vigil.ingest.prom.scrape import Scraper
from vigil.ingest.prom.scrape_config import ScrapeJob
from vigil.ingest.prom.series import SeriesBatch
from vigil.model.common import DEFAULT_TENANT
from vigil.pillar import Core, Pillar
from vigil.tasks import Task


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
