# cython: boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""The pushdown's kernel: ``rate``/``increase``/``delta`` over every window of every series,
summed per group, in one pass over each series' samples.

Contract (``vigil.query.promql.pushdown`` keeps it): ``windows(ts, vs, offsets, gids,
order, e0, step, rng, steps, fn, op, total, count)`` reads series ``r``'s samples at
``ts[offsets[r]:offsets[r+1]]`` (nanoseconds as stored, in any order) and ``vs[…]``, for
the series ``order`` lists (all or some, in that order), and for each step ``k`` (window
``[e0 + k·step - rng, e0 + k·step]``, both ends included) where the series has at least
two samples folds the function's value into ``total[gids[r], k]`` and adds 1 to
``count[gids[r], k]`` (``total`` and ``count`` start at zero). ``fn``: 0 rate, 1 increase,
2 delta; ``op``, how a value is folded: 0 added, 1 the least kept, 2 the greatest kept.

The arithmetic is ``rangefuncs._extrapolated``'s, operation by operation and in its order
(Prometheus 2.x's ``extrapolatedRate``), so that the answers are the general path's to the
last bit for one series; the group sums add the members in ``order``. Each series is
sorted here, by a natural merge sort: the store hands them over as a few sorted runs (one
per part read), which a merge orders in linear time, cheaper than sorting in SQL. Times are
truncated to milliseconds, as ``sql.select`` reads them; of two samples of one series in one
millisecond the later one wins, as in ``sql.split``. Runs without the GIL.
"""

from libc.stdint cimport int64_t, uint32_t
from libc.stdlib cimport free, malloc


cdef int64_t* _sort(
    const int64_t[::1] ts, const double[::1] vs, Py_ssize_t a, Py_ssize_t b,
    int64_t* t, double* v, int64_t* t2, double* v2, Py_ssize_t* runs, double** values,
) noexcept nogil:
    """Series ``[a, b)`` sorted by time into ``t``/``v`` or ``t2``/``v2``: returns the
    times, ``values[0]`` the values. Stable (rows of one time keep their order)."""
    cdef Py_ssize_t n = b - a, i, nr = 0, r, x, y, xe, ye, o
    cdef int64_t* st = t
    cdef double* sv = v
    cdef int64_t* dt = t2
    cdef double* dv = v2
    cdef int64_t* swap_t
    cdef double* swap_v
    for i in range(n):
        t[i] = ts[a + i]
        v[i] = vs[a + i]
    runs[nr] = 0
    nr += 1
    for i in range(1, n):
        if t[i] < t[i - 1]:
            runs[nr] = i
            nr += 1
    runs[nr] = n
    while nr > 1:
        # Merge runs pairwise, from st/sv into dt/dv.
        r = 0
        o = 0
        while r < nr:
            x, xe = runs[r], runs[r + 1]
            if r + 1 < nr:
                y, ye = runs[r + 1], runs[r + 2]
            else:
                y, ye = xe, xe
            while x < xe and y < ye:
                if st[y] < st[x]:
                    dt[o] = st[y]
                    dv[o] = sv[y]
                    y += 1
                else:
                    dt[o] = st[x]
                    dv[o] = sv[x]
                    x += 1
                o += 1
            while x < xe:
                dt[o] = st[x]
                dv[o] = sv[x]
                x += 1
                o += 1
            while y < ye:
                dt[o] = st[y]
                dv[o] = sv[y]
                y += 1
                o += 1
            runs[r // 2] = runs[r]
            r += 2
        nr = (nr + 1) // 2
        runs[nr] = n
        swap_t, swap_v = st, sv
        st, sv = dt, dv
        dt, dv = swap_t, swap_v
    values[0] = sv
    return st


cdef inline void _series(
    const int64_t[::1] ts, const double[::1] vs, Py_ssize_t a, Py_ssize_t b,
    int64_t* t, double* v, int64_t* t2, double* v2, Py_ssize_t* runs, double* corr,
    int64_t e0, int64_t step, int64_t rng, Py_ssize_t steps, int fn, int op,
    double[:, ::1] total, double[:, ::1] count, Py_ssize_t g,
) noexcept nogil:
    cdef Py_ssize_t i, n = 0, lo = 0, hi = 0, k, last, m
    cdef int counter = fn != 2
    cdef double result, fv, to_start, to_end, sampled, avg_gap, to_zero, threshold, half
    cdef double interval, seconds = rng / 1000.0
    cdef int64_t end
    cdef int64_t now
    cdef double* sv
    cdef int64_t* st = _sort(ts, vs, a, b, t, v, t2, v2, runs, &sv)
    # The series in milliseconds without repeated times (the later sample kept), in place,
    # and its reset sums.
    t, v = st, sv
    for i in range(b - a):
        now = st[i] // 1000000
        if n > 0 and now == t[n - 1]:
            v[n - 1] = sv[i]
            continue
        t[n] = now
        v[n] = sv[i]
        n += 1
    if n < 2:
        return
    corr[0] = 0.0
    for i in range(1, n):
        corr[i] = corr[i - 1] + (v[i - 1] if v[i] < v[i - 1] else 0.0)
    for k in range(steps):
        end = e0 + k * step
        while lo < n and t[lo] < end - rng:
            lo += 1
        if hi < lo:
            hi = lo
        while hi < n and t[hi] <= end:
            hi += 1
        m = hi - lo
        if m < 2:
            if lo >= n:
                return
            continue
        last = hi - 1
        fv = v[lo]
        result = v[last] - fv
        if counter:
            result += corr[last]
            result -= corr[lo]
        to_start = (t[lo] - (end - rng)) / 1000.0
        to_end = (end - t[last]) / 1000.0
        sampled = (t[last] - t[lo]) / 1000.0
        avg_gap = sampled / (m - 1)
        if counter:
            to_zero = sampled * (fv / result)
            if result > 0 and fv >= 0 and to_zero < to_start:
                to_start = to_zero
        threshold = avg_gap * 1.1
        half = avg_gap / 2
        interval = sampled
        interval += to_start if to_start < threshold else half
        interval += to_end if to_end < threshold else half
        interval /= sampled
        result *= interval
        if fn == 0:
            result /= seconds
        if op == 0 or count[g, k] == 0:
            total[g, k] += result
        elif op == 1:
            if result < total[g, k]:
                total[g, k] = result
        elif result > total[g, k]:
            total[g, k] = result
        count[g, k] += 1.0


def windows(
    const int64_t[::1] ts,
    const double[::1] vs,
    const int64_t[::1] offsets,
    const uint32_t[::1] gids,
    const int64_t[::1] order,
    int64_t e0,
    int64_t step,
    int64_t rng,
    Py_ssize_t steps,
    int fn,
    int op,
    double[:, ::1] total,
    double[:, ::1] count,
) -> None:
    cdef Py_ssize_t rows = offsets.shape[0] - 1, r, longest = 0
    if gids.shape[0] != rows or ts.shape[0] != vs.shape[0]:
        raise ValueError("windows: ragged input")
    if rows > 0 and (offsets[0] < 0 or offsets[rows] > ts.shape[0]):
        raise ValueError("windows: offsets outside the samples")
    for r in range(rows):
        if offsets[r + 1] < offsets[r]:
            raise ValueError("windows: offsets not ascending")
        if gids[r] >= <uint32_t>total.shape[0]:
            raise ValueError("windows: group outside the result")
        longest = max(longest, offsets[r + 1] - offsets[r])
    for r in range(order.shape[0]):
        if order[r] < 0 or order[r] >= rows:
            raise ValueError("windows: order outside the rows")
    if total.shape[1] < steps or count.shape[1] < steps or count.shape[0] < total.shape[0]:
        raise ValueError("windows: result smaller than the grid")
    cdef Py_ssize_t size = max(longest, 1), q
    cdef int64_t* t = <int64_t*>malloc(size * sizeof(int64_t))
    cdef double* v = <double*>malloc(size * sizeof(double))
    cdef int64_t* t2 = <int64_t*>malloc(size * sizeof(int64_t))
    cdef double* v2 = <double*>malloc(size * sizeof(double))
    cdef Py_ssize_t* runs = <Py_ssize_t*>malloc((size + 2) * sizeof(Py_ssize_t))
    cdef double* corr = <double*>malloc(size * sizeof(double))
    try:
        if t == NULL or v == NULL or t2 == NULL or v2 == NULL or runs == NULL or corr == NULL:
            raise MemoryError()
        with nogil:
            for q in range(order.shape[0]):
                r = order[q]
                _series(ts, vs, offsets[r], offsets[r + 1], t, v, t2, v2, runs, corr,
                        e0, step, rng, steps, fn, op, total, count, gids[r])
    finally:
        free(t)
        free(v)
        free(t2)
        free(v2)
        free(runs)
        free(corr)
