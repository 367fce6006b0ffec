"""The metric query engine behind GetMetricData, GetMetricStatistics, ``/api/v1`` and the
metric windows alarms evaluate.

* ``spec`` — the request's vocabulary and CloudWatch's checks (periods, statistics, start);
* ``series`` — finding series (exact dimensions, ListMetrics, SEARCH);
* ``fetch`` — one statistic of some series on a grid of periods, from the right level;
* ``getstatistics`` — GetMetricStatistics;
* ``request`` — GetMetricData (metric statistics, metric math, SEARCH);
* ``labels`` — result labels;
* ``windows`` — the public call for alarms: one statistic over N periods ending at t;
* ``levels`` — which stored resolution answers a query, and its SQL;
* ``statistics`` — CloudWatch's statistic names and how each is computed;
* ``search`` — the ``SEARCH()`` expression language;
* ``listing`` — ``/api/v1/metrics/series``;
* ``widgets`` — a dashboard's metric widgets as one GetMetricData request.
"""

from vigil.query.metrics.fetch import Fetch, period_units, statistic_series
from vigil.query.metrics.getstatistics import MAX_STATISTICS_DATAPOINTS, get_statistics
from vigil.query.metrics.request import get_metric_data
from vigil.query.metrics.series import (
    FoundSeries,
    SeriesKey,
    exact_series,
    exact_series_many,
    list_metrics,
    series_key,
)
from vigil.query.metrics.spec import (
    HIGH_RES_PERIODS,
    ID_RE,
    LIST_WINDOW,
    MAX_QUERIES,
    MetricQuery,
    MetricSpec,
    QueryError,
    Result,
    align_start,
    check_period,
    check_stat,
    valid_period,
)

__all__ = [
    "HIGH_RES_PERIODS",
    "ID_RE",
    "LIST_WINDOW",
    "MAX_QUERIES",
    "MAX_STATISTICS_DATAPOINTS",
    "Fetch",
    "FoundSeries",
    "MetricQuery",
    "MetricSpec",
    "QueryError",
    "Result",
    "SeriesKey",
    "align_start",
    "check_period",
    "check_stat",
    "exact_series",
    "exact_series_many",
    "get_metric_data",
    "get_statistics",
    "list_metrics",
    "period_units",
    "series_key",
    "statistic_series",
    "valid_period",
]
