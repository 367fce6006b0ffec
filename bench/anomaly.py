"""Anomaly models compared on series with known anomalies: precision, recall and F1 of
window detection, per anomaly kind, next to a windowed-Gaussian baseline (same run).

Candidates (each predicts a centre and a spread from the data before the point, retrained
every ``--retrain`` points on at most 14 days; a point is flagged when it lies more than
``--k`` spreads from the centre):

* ``gaussian`` — the baseline: mean ± k·std of the last day;
* ``mad`` — median ± k·1.4826·MAD of the last day (robust, no seasonality);
* ``seasonal_ma`` — SigNoz-style seasonal moving average: mean of the same time of day over
  the last 7 days ± k·std of what that leaves;
* ``holt_winters`` — additive Holt-Winters (daily season, α 0.3, β 0.01, γ 0.2) ± k·std of
  its one-step errors;
* ``seasonal_robust`` — vigil's default (``vigil.rules.alarms.anomaly``).

Data: synthetic series (16 days of 5-minute points; daily cycle; Gaussian, Laplace or
uniform noise; one anomaly on day 15 of kind spike, dip, level shift, trend change,
seasonality change) and, with ``--nab DIR`` (a checkout of numenta/NAB), NAB's real
labelled series (realAWSCloudwatch, realKnownCause) with their anomaly windows.

Scoring: a labelled window is detected when a flag falls in it; flags outside windows,
merged into runs, are false positives. precision = detected / (detected + false runs),
recall = detected / windows.

    .venv/bin/python bench/anomaly.py [--nab /path/to/NAB] [--k 3] [--retrain 12]
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from vigil.rules.alarms import anomaly

DAY = 86_400
Floats = np.ndarray
Predictor = Callable[[np.ndarray, np.ndarray, int], Callable[[np.ndarray], tuple[Floats, Floats]]]


# --- candidates ------------------------------------------------------------------------------


def gaussian(t: np.ndarray, x: np.ndarray, period: int):
    recent = x[-max(1, DAY // period) :]
    mean, std = float(np.mean(recent)), float(np.std(recent))
    return lambda ts: (np.full(len(ts), mean), np.full(len(ts), std))


def mad(t: np.ndarray, x: np.ndarray, period: int):
    recent = x[-max(1, DAY // period) :]
    med = float(np.median(recent))
    spread = 1.4826 * float(np.median(np.abs(recent - med)))
    return lambda ts: (np.full(len(ts), med), np.full(len(ts), spread))


def seasonal_ma(t: np.ndarray, x: np.ndarray, period: int):
    slots = DAY // period
    keep_days = 7
    t, x = t[-slots * keep_days :], x[-slots * keep_days :]
    slot = (t % DAY) // period
    sums = np.bincount(slot, weights=x, minlength=slots)
    counts = np.bincount(slot, minlength=slots)
    means = np.where(counts > 0, sums / np.maximum(counts, 1), np.mean(x))
    std = float(np.std(x - means[slot]))
    return lambda ts: (means[(ts % DAY) // period], np.full(len(ts), std))


def holt_winters(t: np.ndarray, x: np.ndarray, period: int):
    m = DAY // period
    alpha, beta, gamma = 0.3, 0.01, 0.2
    if len(x) < 2 * m:
        return gaussian(t, x, period)
    level = float(np.mean(x[:m]))
    trend = (float(np.mean(x[m : 2 * m])) - level) / m
    season = (x[:m] - level).astype(float)
    errors = []
    for i in range(m, len(x)):
        s = season[i % m]
        forecast = level + trend + s
        errors.append(x[i] - forecast)
        new_level = alpha * (x[i] - s) + (1 - alpha) * (level + trend)
        trend = beta * (new_level - level) + (1 - beta) * trend
        season[i % m] = gamma * (x[i] - new_level) + (1 - gamma) * s
        level = new_level
    std = float(np.std(errors[-m * 3 :]))
    last_t, n = int(t[-1]), len(x)

    def predict(ts: np.ndarray) -> tuple[Floats, Floats]:
        steps = (ts - last_t) // period
        idx = (n - 1 + steps) % m
        return level + trend * steps + season[idx], np.full(len(ts), std)

    return predict


def seasonal_robust(t: np.ndarray, x: np.ndarray, period: int):
    model = anomaly.train(t.tolist(), x, period)
    if model is None:
        return gaussian(t, x, period)
    return lambda ts: (model.expected(ts.tolist()), np.full(len(ts), model.sigma))


CANDIDATES: dict[str, Predictor] = {
    "gaussian": gaussian,
    "mad": mad,
    "seasonal_ma": seasonal_ma,
    "holt_winters": holt_winters,
    "seasonal_robust": seasonal_robust,
}


# --- data ------------------------------------------------------------------------------------


@dataclass
class Series:
    name: str
    kind: str
    t: np.ndarray
    x: np.ndarray
    windows: list[tuple[int, int]] = field(default_factory=list)
    start: int = 0  # first scored index


def synthetic(seed: int, kind: str, noise: str) -> Series:
    rng = np.random.default_rng(seed)
    period = 300
    t = np.arange(0, 16 * DAY, period) + 1_700_000_000 - 1_700_000_000 % DAY
    phase = 2 * np.pi * (t % DAY) / DAY
    x = 100 + 30 * np.sin(phase) + 0.5 * (t - t[0]) / DAY
    scale = 3.0
    x = (
        x
        + {
            "gaussian": rng.normal(0, scale, len(t)),
            "laplace": rng.laplace(0, scale / math.sqrt(2), len(t)),
            "uniform": rng.uniform(-scale * math.sqrt(3), scale * math.sqrt(3), len(t)),
        }[noise]
    )
    at = int(15 * DAY // period + rng.integers(30, 200))
    end = at
    if kind == "spike":
        x[at] += 40
        end = at + 6
    elif kind == "dip":
        x[at] -= 40
        end = at + 6
    elif kind == "level_shift":
        x[at:] += 25
        end = at + 24
    elif kind == "trend_change":
        x[at:] += np.arange(len(x) - at) * 0.25
        end = at + 288
    elif kind == "seasonality_change":
        x[at:] += 30 * np.sin(phase[at:])
        end = at + 288
    windows = [(int(t[at]), int(t[min(end, len(t) - 1)]))] if kind != "none" else []
    return Series(f"{kind}-{noise}-{seed}", kind, t, x, windows, start=int(14 * DAY // period))


def nab(root: Path) -> list[Series]:
    labels = json.loads((root / "labels" / "combined_windows.json").read_text())
    out = []
    for folder in ("realAWSCloudwatch", "realKnownCause"):
        for path in sorted((root / "data" / folder).glob("*.csv")):
            stamps, values = [], []
            with path.open() as f:
                for row in csv.DictReader(f):
                    moment = dt.datetime.fromisoformat(row["timestamp"]).replace(tzinfo=dt.UTC)
                    stamps.append(int(moment.timestamp()))
                    values.append(float(row["value"]))
            windows = [
                (
                    int(dt.datetime.fromisoformat(a).replace(tzinfo=dt.UTC).timestamp()),
                    int(dt.datetime.fromisoformat(b).replace(tzinfo=dt.UTC).timestamp()),
                )
                for a, b in labels.get(f"{folder}/{path.name}", [])
            ]
            t = np.array(stamps, dtype=np.int64)
            # NAB's probationary period: the first 15 % are for learning, not scored.
            out.append(Series(path.stem, "nab", t, np.array(values), windows, int(len(t) * 0.15)))
    return out


# --- scoring ---------------------------------------------------------------------------------


def flags(series: Series, make: Predictor, k: float, retrain: int) -> np.ndarray:
    t, x = series.t, series.x
    period = int(np.median(np.diff(t))) or 300
    history = 14 * DAY // period
    out = np.zeros(len(x), dtype=bool)
    for i in range(series.start, len(x), retrain):
        lo = max(0, i - history)
        predict = make(t[lo:i], x[lo:i], period)
        j = min(len(x), i + retrain)
        centre, spread = predict(t[i:j])
        spread = np.maximum(spread, 1e-9)
        out[i:j] = np.abs(x[i:j] - centre) > k * spread
    return out


def score(series: Series, flagged: np.ndarray) -> tuple[int, int, int]:
    """(detected windows, windows, false-positive runs)."""
    t = series.t
    inside = np.zeros(len(t), dtype=bool)
    detected = 0
    for a, b in series.windows:
        w = (t >= a) & (t <= b)
        inside |= w
        detected += bool(np.any(flagged & w))
    outside = flagged & ~inside
    outside[: series.start] = False
    runs = int(np.sum(outside[1:] & ~outside[:-1]) + (1 if len(outside) and outside[0] else 0))
    return detected, len(series.windows), runs


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--nab", type=Path)
    parser.add_argument("--k", type=float, default=3.0)
    parser.add_argument("--retrain", type=int, default=12)
    parser.add_argument("--seeds", type=int, default=2)
    args = parser.parse_args()
    data: list[Series] = []
    kinds = ["spike", "dip", "level_shift", "trend_change", "seasonality_change", "none"]
    for kind in kinds:
        for noise in ("gaussian", "laplace", "uniform"):
            for seed in range(args.seeds):
                data.append(synthetic(seed * 100 + len(data), kind, noise))
    if args.nab:
        data.extend(nab(args.nab))
    totals: dict[tuple[str, str], list[int]] = {}
    seconds: dict[str, float] = {}
    for name, make in CANDIDATES.items():
        started = time.process_time()
        for series in data:
            detected, windows, runs = score(series, flags(series, make, args.k, args.retrain))
            group = "synthetic:" + series.kind if series.kind != "nab" else "nab"
            for key in ((name, group), (name, "all synthetic" if series.kind != "nab" else "nab")):
                acc = totals.setdefault(key, [0, 0, 0])
                acc[0] += detected
                acc[1] += windows
                acc[2] += runs
        seconds[name] = time.process_time() - started
    groups = sorted({g for _, g in totals})
    print(f"k = {args.k}, retrained every {args.retrain} points; {len(data)} series")
    print("| group | " + " | ".join(CANDIDATES) + " |")
    print("|---|" + "---|" * len(CANDIDATES))
    for group in groups:
        cells = []
        for name in CANDIDATES:
            detected, windows, runs = totals.get((name, group), [0, 0, 0])
            p = detected / (detected + runs) if detected + runs else 0.0
            r = detected / windows if windows else float("nan")
            f1 = 2 * p * r / (p + r) if p + r and not math.isnan(r) else 0.0
            cells.append(f"P {p:.2f} R {r:.2f} F1 {f1:.2f} (FP {runs})")
        print(f"| {group} | " + " | ".join(cells) + " |")
    base = seconds["gaussian"] or 1e-9
    print(
        "CPU s: " + ", ".join(f"{n} {s:.1f} (×{s / base:.1f} baseline)" for n, s in seconds.items())
    )


if __name__ == "__main__":
    main()
