"""Fetch the data of many due alarms in few store queries, then serve it to the pure
evaluator as its ``WindowQuery``.

Single-metric alarms are grouped by (tenant, statistic, period, unit, window end): each
group is one ``statistic_series`` query over every series of the group, over the longest
evaluation range in it (shorter ones take the newest periods). Percentile alarms that
ignore low sample counts add one SampleCount query per group. Metric-math alarms run
their own query list (one GetMetricData evaluation each). Anomaly bands come from the
detector models (``Models``), trained on up to 14 days of the metric and refreshed hourly.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from vigil.query.metricmath import MathError
from vigil.query.metrics import QueryError
from vigil.rules.alarms import anomaly
from vigil.rules.alarms.evaluate import evaluation_window, low_sample_limit
from vigil.rules.alarms.fetch import MetricReader
from vigil.rules.alarms.interface import Datapoints, Floats, Window
from vigil.rules.alarms.model import MathQuery, MetricAlarm, MetricRef
from vigil.rules.alarms.spec import band_call

log = logging.getLogger("vigil.alarms")
RETRAIN_SECONDS = 3600

# (tenant, namespace, metric, dimensions, stat) or (tenant, "expression", text, (), "")
DetectorKey = tuple[str, str, str, tuple[tuple[str, str], ...], str]


@dataclass(slots=True)
class _Trained:
    model: anomaly.AnomalyModel | None
    at: int


class Models:
    """Anomaly models per detector key and period, trained on demand and kept current."""

    def __init__(self, reader: MetricReader) -> None:
        self._reader = reader
        self._models: dict[tuple[DetectorKey, int], _Trained] = {}
        # detector key → configuration (PutAnomalyDetector), set by the engine
        self.configs: dict[DetectorKey, anomaly.DetectorConfig] = {}

    def forget(self, key: DetectorKey) -> None:
        for k in [k for k in self._models if k[0] == key]:
            del self._models[k]

    async def band(
        self,
        key: DetectorKey,
        query: MathQuery,
        queries: Sequence[MathQuery],
        window: Window,
        width: float,
        now: int,
    ) -> tuple[Floats, Floats]:
        trained = self._models.get((key, window.period))
        if trained is None or now - trained.at >= RETRAIN_SECONDS:
            trained = _Trained(await self._train(key, query, queries, window.period, now), now)
            self._models[(key, window.period)] = trained
        if trained.model is None:
            nan = np.full(window.count, math.nan)
            return nan, nan.copy()
        return trained.model.band(window.stamps(), width)

    async def _train(
        self,
        key: DetectorKey,
        query: MathQuery,
        queries: Sequence[MathQuery],
        period: int,
        now: int,
    ) -> anomaly.AnomalyModel | None:
        end = now - now % period
        count = anomaly.TRAINING_DAYS * 86_400 // period
        history = Window(end, period, count)
        values = (await self._reader.math(key[0], queries, [query.id], history))[query.id]
        config = self.configs.get(key, anomaly.DetectorConfig())
        return await asyncio.to_thread(anomaly.train, history.stamps(), values, period, config)


def detector_key(tenant: str, query: MathQuery) -> DetectorKey:
    if query.metric is not None:
        m = query.metric
        return (tenant, m.namespace, m.name, m.dimensions, query.stat or "")
    return (tenant, "expression", query.expression or "", (), "")


class Prefetch:
    """The data of one evaluation round; ``query`` is the evaluator's ``WindowQuery``."""

    def __init__(self) -> None:
        self._data: dict[tuple[str, str], Datapoints] = {}

    def query(self, alarm: MetricAlarm, window: Window) -> Datapoints:
        found = self._data.get((alarm.tenant, alarm.name))
        if found is None:
            return Datapoints(window.stamps(), np.full(window.count, math.nan), error="no data")
        return found

    def put(self, alarm: MetricAlarm, dp: Datapoints) -> None:
        self._data[(alarm.tenant, alarm.name)] = dp


async def prefetch(
    reader: MetricReader, models: Models, alarms: Sequence[MetricAlarm], now: int
) -> Prefetch:
    out = Prefetch()
    single = [a for a in alarms if a.metric is not None]
    maths = [a for a in alarms if a.metric is None]
    by_tenant: dict[str, list[MetricRef]] = defaultdict(list)
    for a in single:
        assert a.metric is not None
        by_tenant[a.tenant].append(a.metric)
    ids = {t: await reader.series_ids(t, metrics) for t, metrics in by_tenant.items()}
    groups: dict[tuple[str, str, int, str | None, int], list[MetricAlarm]] = defaultdict(list)
    for a in single:
        window = evaluation_window(a, now)
        groups[(a.tenant, a.statistic or "", a.period, a.unit, window.end)].append(a)
    jobs = [
        _single_group(reader, key, members, ids[key[0]], out) for key, members in groups.items()
    ]
    jobs.extend(_math(reader, models, a, now, out) for a in maths)
    await asyncio.gather(*jobs)
    return out


async def _single_group(
    reader: MetricReader,
    key: tuple[str, str, int, str | None, int],
    members: list[MetricAlarm],
    ids: dict[MetricRef, Any],
    out: Prefetch,
) -> None:
    tenant, stat, period, unit, end = key
    count = max(a.evaluation_periods for a in members) + 2
    window = Window(end, period, count)
    refs = list({ids[a.metric] for a in members if a.metric in ids})
    try:
        values = await reader.windows(tenant, refs, stat, period, unit, window) if refs else {}
        samples: dict[int, Floats] = {}
        if (
            any(
                a.evaluate_low_sample_count_percentile == "ignore" and low_sample_limit(stat)
                for a in members
            )
            and refs
        ):
            samples = await reader.windows(tenant, refs, "SampleCount", period, unit, window)
    except (QueryError, MathError) as exc:
        for a in members:
            own = evaluation_window(a, end)
            out.put(a, Datapoints(own.stamps(), np.full(own.count, math.nan), error=str(exc)))
        return
    stamps = window.stamps()
    for a in members:
        n = a.evaluation_periods + 2
        ref = ids.get(a.metric) if a.metric is not None else None
        series = values.get(ref.series_id) if ref is not None else None
        vals = series[-n:] if series is not None else np.full(n, math.nan)
        sample = samples.get(ref.series_id) if ref is not None and samples else None
        out.put(
            a,
            Datapoints(
                stamps[-n:], vals, None if sample is None else np.nan_to_num(sample[-n:]), unit=unit
            ),
        )


async def _math(
    reader: MetricReader, models: Models, alarm: MetricAlarm, now: int, out: Prefetch
) -> None:
    window = evaluation_window(alarm, now)
    ret = alarm.return_query()
    if ret is None:
        return
    try:
        values = (await reader.math(alarm.tenant, alarm.metrics, [ret.id], window))[ret.id]
        lower = upper = None
        if alarm.threshold_metric_id:
            lower, upper = await _band(reader, models, alarm, window, now)
    except (QueryError, MathError) as exc:
        log.warning("alarm %s: %s", alarm.name, exc)
        out.put(alarm, Datapoints(window.stamps(), np.full(window.count, math.nan), error=str(exc)))
        return
    out.put(alarm, Datapoints(window.stamps(), values, lower=lower, upper=upper))


async def _band(
    reader: MetricReader, models: Models, alarm: MetricAlarm, window: Window, now: int
) -> tuple[Floats, Floats]:
    by_id = {q.id: q for q in alarm.metrics}
    band_query = by_id.get(alarm.threshold_metric_id or "")
    call = band_call(band_query.expression or "") if band_query is not None else None
    if call is None or call[0] not in by_id:
        nan = np.full(window.count, math.nan)
        return nan, nan.copy()
    source = by_id[call[0]]
    key = detector_key(alarm.tenant, source)
    queries = [q for q in alarm.metrics if q.id != alarm.threshold_metric_id]
    return await models.band(key, source, queries, window, call[1], now)
