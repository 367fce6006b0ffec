"""Anomaly detection models behind one small interface.

``train(stamps, values, period, config) -> AnomalyModel | None`` fits a model on up to 14
days of a metric (NaN: missing); ``model.band(stamps, k)`` gives the expected band
(lower, upper) at those times, ``k`` standard deviations wide as ANOMALY_DETECTION_BAND's
second argument says. None means too little data: the band is missing and an alarm on it
evaluates its periods as missing (CloudWatch's detectors also need data to train first).

The default model (``SeasonalRobust``) is a robust decomposition chosen per metric:

* level and trend from medians (the trend kept only when it explains the data better);
* a seasonal profile of hour-of-day or hour-of-week medians of what the trend leaves,
  in the detector's ``MetricTimezone`` — or none, for flat metrics: the candidate with
  the smallest residual spread wins, a more complex one only when it is ≥ 10 % better;
* the spread is 1.4826 · MAD of the residuals (a standard deviation that outliers, gaps
  and spikes in the training data barely move); ``ExcludedTimeRanges`` are dropped.

Other models (Holt-Winters, MSTL …) plug in by implementing ``AnomalyModel``; the
comparison benchmark of issue 11 is where a better default would be chosen.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol
from zoneinfo import ZoneInfo

import numpy as np

from vigil.rules.alarms.interface import Floats

TRAINING_DAYS = 14
MIN_POINTS = 12
DAY, WEEK, HOUR = 86_400, 7 * 86_400, 3_600


class AnomalyModel(Protocol):
    def band(self, stamps: Sequence[int], k: float) -> tuple[Floats, Floats]: ...


@dataclass(frozen=True, slots=True)
class DetectorConfig:
    excluded: tuple[tuple[int, int], ...] = ()  # [start, end) epoch seconds
    timezone: str | None = None


@dataclass(slots=True)
class SeasonalRobust:
    level: float
    slope: float  # per second, from t0
    t0: int
    season: int  # 0, DAY or WEEK
    profile: Floats = field(default_factory=lambda: np.zeros(0))
    sigma: float = 0.0
    offset: int = 0  # timezone offset (seconds) at training time
    width: int = HOUR  # seconds per profile bucket

    def expected(self, stamps: Sequence[int]) -> Floats:
        t = np.asarray(stamps, dtype=np.int64)
        base = self.level + self.slope * (t - self.t0)
        if self.season:
            base = base + self.profile[_buckets(t, self.season, self.offset, self.width)]
        return np.asarray(base, dtype=np.float64)

    def band(self, stamps: Sequence[int], k: float) -> tuple[Floats, Floats]:
        mid = self.expected(stamps)
        return mid - k * self.sigma, mid + k * self.sigma


def _buckets(t: np.ndarray, season: int, offset: int, width: int) -> np.ndarray:
    return ((t + offset) % season) // width


def _mad_sigma(residual: Floats) -> float:
    """A standard deviation for the band: 1.4826 · MAD (what outliers barely move), widened
    to the residuals' 99.7 % quantile / 3 when the noise has heavier tails than a normal
    one (Laplace-like noise would otherwise cross a 3σ band ~5× as often)."""
    if not len(residual):
        return 0.0
    deviation = np.abs(residual - float(np.median(residual)))
    robust = 1.4826 * float(np.median(deviation))
    tails = float(np.quantile(deviation, 0.997)) / 3 if len(deviation) >= 300 else 0.0
    return max(robust, tails)


def _tz_offset(name: str | None, at: int) -> int:
    if not name:
        return 0
    try:
        zone = ZoneInfo(name)
    except (KeyError, ValueError):
        return 0
    delta = dt.datetime.fromtimestamp(at, zone).utcoffset()
    return int(delta.total_seconds()) if delta is not None else 0


def train(
    stamps: Sequence[int], values: Floats, period: int, config: DetectorConfig = DetectorConfig()
) -> SeasonalRobust | None:
    t = np.asarray(stamps, dtype=np.int64)
    x = np.asarray(values, dtype=np.float64)
    keep = ~np.isnan(x)
    for start, end in config.excluded:
        keep &= ~((t >= start) & (t < end))
    t, x = t[keep], x[keep]
    if len(x) < MIN_POINTS:
        return None
    t0 = int(t[-1])
    offset = _tz_offset(config.timezone, t0)
    span = int(t[-1] - t[0]) + period
    level = float(np.median(x))
    candidates = [_fit(t, x, t0, 0, offset, False, period)]
    candidates.append(_fit(t, x, t0, 0, offset, True, period))
    if span >= 2 * DAY:
        candidates.append(_fit(t, x, t0, DAY, offset, True, period))
    if span >= 2 * WEEK - DAY:
        candidates.append(_fit(t, x, t0, WEEK, offset, True, period))
    best = candidates[0]
    for model in candidates[1:]:
        if model.sigma < 0.9 * best.sigma:
            best = model
    # A constant metric still gets a band: a small fraction of its level.
    best.sigma = max(best.sigma, 1e-3 * abs(level), 1e-9)
    return best


def _fit(
    t: np.ndarray,
    x: Floats,
    t0: int,
    season: int,
    offset: int,
    trend: bool,
    period: int = 60,
) -> SeasonalRobust:
    """Level, trend and seasonal profile by alternating robust estimates: the profile from
    the detrended data, the trend from the deseasonalised data (twice: a trend measured
    on raw seasonal data is biased by the phase the halves start and end in)."""
    width = _bucket_width(season, period)
    buckets = _buckets(t, season, offset, width) if season else np.zeros(len(t), dtype=np.int64)
    count = season // width if season else 1
    slope = 0.0
    profile = np.zeros(count)
    level = float(np.median(x))
    for _ in range(3):
        detrended = x - slope * (t - t0)
        level = float(np.median(detrended))
        if season:
            profile = _profile(detrended - level, buckets, count)
        if not trend or len(x) < 2 * MIN_POINTS:
            break
        deseasoned = x - (profile[buckets] if season else 0.0)
        half = len(x) // 2
        span = float(np.median(t[half:]) - np.median(t[:half]))
        if span <= 0:
            break
        slope = (float(np.median(deseasoned[half:])) - float(np.median(deseasoned[:half]))) / span
    rest = x - slope * (t - t0) - level - (profile[buckets] if season else 0.0)
    model = SeasonalRobust(level, slope, t0, season, profile, _mad_sigma(rest), offset, width)
    if math.isnan(model.sigma):
        model.sigma = 0.0
    return model


def _bucket_width(season: int, period: int) -> int:
    """Quarter hours for a daily profile, hours for a weekly one (never below the period)."""
    return max(period, 900 if season == DAY else HOUR)


def _profile(rest: Floats, buckets: np.ndarray, count: int) -> Floats:
    profile = np.zeros(count)
    order = np.argsort(buckets, kind="stable")
    bounds = np.searchsorted(buckets[order], np.arange(count + 1))
    for b in range(count):
        chunk = rest[order[bounds[b] : bounds[b + 1]]]
        if len(chunk):
            profile[b] = float(np.median(chunk))
    return profile
