"""Prometheus in: the remote-write receiver (``/prometheus/api/v1/write``) and the scrape
loop over configured targets (``vigil.ingest.prom``). The PromQL API's routes may join
this pillar; keep each part to a few lines here."""

from __future__ import annotations

from starlette.routing import Route

from vigil.ingest.prom.handler import MetadataCache, RemoteWriteHandler
from vigil.pillar import Core, Pillar


def build(core: Core) -> Pillar:
    cfg = core.config
    cache = MetadataCache()
    write = RemoteWriteHandler(
        core.pipeline, core.metrics, cache, max_body_bytes=cfg.max_body_bytes, clock=core.clock
    )
    return Pillar(
        name="prometheus",
        routes=[Route("/prometheus/api/v1/write", write.handle, methods=["POST"])],
    )
