"""CloudWatch Logs (``Logs_20140328.*``, JSON 1.1) on vigil's stores, as one AWS service
object per concept, merged by the front door: log groups and streams (``groups``), log
events (``events``), metric filters (``metric_filters``), Logs Insights (``insights``),
saved queries (``definitions``), scheduled queries (``scheduled``) and Live Tail
(``livetail``).

Thin: each operation checks what botocore's model cannot (names, limits, existence), calls
the state catalog, the ingest pipeline, query/ or the Insights registry, and shapes the
answer as boto3 expects it. Errors use CloudWatch Logs' codes: ResourceNotFoundException,
ResourceAlreadyExistsException, InvalidParameterException, LimitExceededException,
MalformedQueryException (400). Blocking state calls go to threads.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from vigil.api.aws.interface import AwsService
from vigil.api.aws.logs.definitions import QueryDefinitionsService
from vigil.api.aws.logs.events import LogEventsService
from vigil.api.aws.logs.groups import LogGroupsService
from vigil.api.aws.logs.insights import InsightsService
from vigil.api.aws.logs.livetail import LiveTailService
from vigil.api.aws.logs.metric_filters import MetricFiltersService
from vigil.api.aws.logs.scheduled import ScheduledQueriesService
from vigil.ingest.logmetrics import MetricFilterProcessor
from vigil.ingest.pipeline import IngestPipeline
from vigil.query.insights.runner import QueryRegistry
from vigil.state.loggroups import LogGroupRegistry
from vigil.state.logs import LogsCatalog
from vigil.store.interface import Store
from vigil.telemetry import SelfMetrics


def logs_services(
    store: Store,
    catalog: LogsCatalog,
    registry: LogGroupRegistry,
    pipeline: IngestPipeline,
    queries: QueryRegistry,
    filters: MetricFilterProcessor,
    metrics: SelfMetrics,
    clock: Callable[[], int] = time.time_ns,
    running: Callable[[], bool] = lambda: True,
) -> list[AwsService]:
    """Every CloudWatch Logs service object, sharing the given parts (``running``: false
    once the server is stopping, which ends live-tail sessions)."""
    return [
        LogGroupsService(store, catalog, registry, filters, clock),
        LogEventsService(store, catalog, registry, pipeline, metrics, clock),
        MetricFiltersService(catalog, registry, filters),
        InsightsService(catalog, registry, queries),
        QueryDefinitionsService(catalog, registry, clock),
        ScheduledQueriesService(catalog, registry, clock),
        LiveTailService(store, registry, clock, running),
    ]
