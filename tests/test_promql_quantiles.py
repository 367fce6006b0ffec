"""``histogram_quantile`` computed for all steps at once (``quantiles._group``) answers as the
one-step reference ``bucket_quantile`` (Prometheus 2.42's ``bucketQuantile``) does at each
step, bit for bit, on random bucket sets: non-monotonic, NaN and infinite counts, buckets
missing at some steps, duplicate and negative bounds, +Inf only, a single bucket, no +Inf;
φ NaN, below 0 and above 1. The reference's own answers on hand-worked cases are in the
table below; the differential suite (tests/golden/promql/histogram_quantile.test) holds
both to the real Prometheus."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vigil.query.promql.names import Labels
from vigil.query.promql.quantiles import bucket_quantile, histogram_quantile
from vigil.query.promql.values import Vector

INF, NAN = math.inf, math.nan

BOUNDS = ["-1", "-0.5", "0", "0.1", "0.25", "1", "1.0", "2.5", "10", "+Inf", "-Inf"]
COUNTS = st.one_of(
    st.sampled_from([0.0, -0.0, 1.0, 2.0, 3.0, 5.0, NAN, INF, -INF, -1.0]),
    st.floats(min_value=-10, max_value=1000, allow_nan=False),
)
PHI = st.sampled_from([NAN, -0.5, 0.0, 0.1, 0.25, 0.5, 0.9, 0.99, 1.0, 1.5])


def _by_steps(q: np.ndarray, vec: Vector) -> dict[tuple[tuple[str, str], ...], list[float | None]]:
    """The reference, one step at a time: None where the group has no bucket."""
    groups: dict[tuple[tuple[str, str], ...], list[tuple[float, int]]] = {}
    for i, lbl in enumerate(vec.labels):
        d = dict(lbl)
        key = tuple((k, v) for k, v in lbl if k not in ("le", "__name__"))
        groups.setdefault(key, []).append((float(d["le"].replace("+Inf", "inf")), i))
    out = {}
    for key, members in groups.items():
        members.sort()
        row: list[float | None] = []
        for j in range(vec.values.shape[1]):
            buckets = [(u, float(vec.values[i, j])) for u, i in members if vec.present[i, j]]
            row.append(bucket_quantile(float(q[j]), buckets) if buckets else None)
        if any(v is not None for v in row):
            out[key] = row
    return out


@st.composite
def bucket_vectors(draw: st.DrawFn) -> tuple[np.ndarray, Vector]:
    t = draw(st.integers(1, 6))
    labels: list[Labels] = []
    values, present = [], []
    jobs = draw(st.lists(st.sampled_from(["a", "b", "c"]), min_size=1, max_size=3, unique=True))
    for job in jobs:
        les = draw(st.lists(st.sampled_from(BOUNDS), min_size=1, max_size=7))
        for le in les:
            labels.append((("__name__", "x_bucket"), ("job", job), ("le", le)))
            values.append(draw(st.lists(COUNTS, min_size=t, max_size=t)))
            present.append(draw(st.lists(st.booleans(), min_size=t, max_size=t)))
    q = np.array(draw(st.lists(PHI, min_size=t, max_size=t)))
    return q, Vector(labels, np.array(values, dtype=np.float64), np.array(present, dtype=bool))


@settings(max_examples=400, deadline=None)
@given(bucket_vectors())
def test_all_steps_at_once_equal_the_reference_step_by_step(
    case: tuple[np.ndarray, Vector],
) -> None:
    q, vec = case
    got = histogram_quantile(q, vec)
    want = _by_steps(q, vec)
    assert sorted(got.labels) == sorted(want)
    for lbl, vals, has in zip(got.labels, got.values, got.present, strict=True):
        expected = want[lbl]
        assert has.tolist() == [v is not None for v in expected]
        exp = np.array([0.0 if v is None else v for v in expected])
        # Bit for bit (NaN equal to NaN, and the sign of zero kept).
        np.testing.assert_array_equal(np.where(has, vals, 0.0), exp)
        number = has & ~np.isnan(exp)
        assert (np.signbit(vals[number]) == np.signbit(exp[number])).all()


def test_a_nan_bound_takes_the_reference_path() -> None:
    labels: list[Labels] = [(("le", "NaN"),), (("le", "1"),), (("le", "+Inf"),)]
    vec = Vector(labels, np.array([[1.0, 2.0], [2.0, 2.0], [4.0, 4.0]]), np.ones((3, 2), bool))
    q = np.array([0.5, 0.9])
    got = histogram_quantile(q, vec)
    want = _by_steps(q, vec)[()]
    np.testing.assert_array_equal(got.values[0], np.array(want, dtype=float))


def test_labels_without_a_numeric_le_are_skipped() -> None:
    labels: list[Labels] = [(("le", "one"),), (("job", "x"),), (("le", "1"),), (("le", "+Inf"),)]
    vec = Vector(labels, np.array([[9.0], [9.0], [1.0], [2.0]]), np.ones((4, 1), bool))
    got = histogram_quantile(np.array([0.5]), vec)
    assert got.labels == [()]
    assert got.values[0, 0] == 1.0


# Hand-worked against Prometheus 2.42's promql/quantile.go.
@pytest.mark.parametrize(
    ("q", "buckets", "want"),
    [
        (0.5, [(1, 1), (2, 3), (INF, 4)], 1.5),
        (0.25, [(1, 2), (INF, 8)], 1.0),  # the lowest bucket: from 0
        (0.1, [(-1, 2), (0, 4), (INF, 10)], -1.0),  # the lowest bound ≤ 0: itself
        (0.3, [(-1, 2), (0, 4), (INF, 10)], -0.5),
        (0.99, [(1, 1), (2, 3), (INF, 4)], 2.0),  # in +Inf: the second highest bound
        (0.5, [(1, 5), (2, 3), (INF, 6)], 0.6),  # non-monotonic: 3 raised to 5
        (0.5, [(1, 3), (2, NAN), (INF, 5)], 2.0),  # binary search passes the first match
        (0.5, [(1, NAN), (2, 1), (INF, 4)], 2.0),  # NaN first: counts left as they are
        (0.5, [(1, 1), (2, 3), (INF, NAN)], 2.0),  # NaN total: rank NaN, never found
        (0.5, [(INF, 4)], NAN),  # fewer than two buckets
        (0.5, [(1, 1), (2, 3)], NAN),  # no +Inf
        (0.5, [(1, 0), (INF, 0)], NAN),  # no observations
        (0.5, [(1, 1), (1, 1), (INF, 4)], 1.0),  # equal bounds added: rank 2 at the top of 1
        (0.0, [(1, 0), (2, 3), (INF, 4)], NAN),  # 0/0 in the lowest bucket, not an error
        (0.0, [(1, 0), (2, 0), (INF, -1)], NAN),
        (-0.1, [(INF, 4)], -INF),
        (1.1, [(1, 1)], INF),
        (NAN, [(1, 1), (INF, 2)], NAN),
    ],
)
def test_bucket_quantile(q: float, buckets: list[tuple[float, float]], want: float) -> None:
    got = bucket_quantile(q, buckets)
    assert (math.isnan(got) and math.isnan(want)) or got == pytest.approx(want)
