# cython: boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""The pushdown's kernel: ``rate``/``increase``/``delta`` over every window of every series,
summed per group, in one pass over each series' samples.

Contract (``vigil.query.promql.pushdown`` keeps it): ``windows(t_chunks, v_chunks, chunk,
starts, ends, offsets, gids, order, e0, step, rng, steps, fn, op, total, count)`` reads
series ``r``'s samples in the pieces ``p`` from ``offsets[r]`` to ``offsets[r+1] - 1``,
each ``t_chunks[chunk[p]][starts[p]:ends[p]]`` (int64 nanoseconds as stored, in any order)
and the same rows of ``v_chunks`` (float64) — the store's answer as it arrived, one chunk
per block, never concatenated (copying it cost more than the kernel) — for the series
``order`` lists (all or some, in that order), and for each step ``k`` (window
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
    const int64_t** tp, const double** vp, const int64_t[::1] chunk,
    const int64_t[::1] starts, const int64_t[::1] ends, Py_ssize_t p0, Py_ssize_t p1,
    Py_ssize_t n,
    int64_t* t, double* v, int64_t* t2, double* v2, Py_ssize_t* runs, double** values,
) noexcept nogil:
    """The ``n`` samples of pieces ``p0 … p1 - 1`` sorted by time into ``t``/``v`` or
    ``t2``/``v2``: returns the times, ``values[0]`` the values. Stable (rows of one time
    keep their order)."""
    cdef Py_ssize_t i, j, p, nr = 0, r, x, y, xe, ye, o
    cdef const int64_t* ct
    cdef const double* cv
    cdef int64_t* st = t
    cdef double* sv = v
    cdef int64_t* dt = t2
    cdef double* dv = v2
    cdef int64_t* swap_t
    cdef double* swap_v
    i = 0
    for p in range(p0, p1):
        ct = tp[chunk[p]]
        cv = vp[chunk[p]]
        for j in range(starts[p], ends[p]):
            t[i] = ct[j]
            v[i] = cv[j]
            i += 1
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
    const int64_t** tp, const double** vp, const int64_t[::1] chunk,
    const int64_t[::1] starts, const int64_t[::1] ends, Py_ssize_t p0, Py_ssize_t p1,
    Py_ssize_t size,
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
    cdef int64_t* st = _sort(tp, vp, chunk, starts, ends, p0, p1, size, t, v, t2, v2, runs, &sv)
    # The series in milliseconds without repeated times (the later sample kept), in place,
    # and its reset sums.
    t, v = st, sv
    for i in range(size):
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
    list t_chunks,
    list v_chunks,
    const int64_t[::1] chunk,
    const int64_t[::1] starts,
    const int64_t[::1] ends,
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
    cdef Py_ssize_t chunks = len(t_chunks), rows = offsets.shape[0] - 1
    cdef Py_ssize_t pieces = starts.shape[0], c, r, p, n, longest = 0, size, q
    cdef const int64_t[::1] tm
    cdef const double[::1] vm
    if len(v_chunks) != chunks or chunk.shape[0] != pieces or ends.shape[0] != pieces:
        raise ValueError("windows: ragged input")
    if gids.shape[0] != rows:
        raise ValueError("windows: ragged input")
    cdef int64_t* lens = <int64_t*>malloc(max(chunks, 1) * sizeof(int64_t))
    cdef const int64_t** tp = <const int64_t**>malloc(max(chunks, 1) * sizeof(int64_t*))
    cdef const double** vp = <const double**>malloc(max(chunks, 1) * sizeof(double*))
    cdef int64_t* t = NULL
    cdef double* v = NULL
    cdef int64_t* t2 = NULL
    cdef double* v2 = NULL
    cdef Py_ssize_t* runs = NULL
    cdef double* corr = NULL
    try:
        if lens == NULL or tp == NULL or vp == NULL:
            raise MemoryError()
        # The chunks' buffers, held by the caller's lists for the whole call.
        for c in range(chunks):
            tm = t_chunks[c]
            vm = v_chunks[c]
            if tm.shape[0] != vm.shape[0]:
                raise ValueError("windows: ragged input")
            lens[c] = tm.shape[0]
            tp[c] = &tm[0] if lens[c] > 0 else NULL
            vp[c] = &vm[0] if lens[c] > 0 else NULL
        for p in range(pieces):
            if chunk[p] < 0 or chunk[p] >= chunks or starts[p] < 0 or ends[p] < starts[p] \
                    or ends[p] > lens[chunk[p]]:
                raise ValueError("windows: piece outside the samples")
        if rows > 0 and (offsets[0] < 0 or offsets[rows] > pieces):
            raise ValueError("windows: offsets outside the pieces")
        for r in range(rows):
            if offsets[r + 1] < offsets[r]:
                raise ValueError("windows: offsets not ascending")
            if gids[r] >= <uint32_t>total.shape[0]:
                raise ValueError("windows: group outside the result")
            n = 0
            for p in range(offsets[r], offsets[r + 1]):
                n += ends[p] - starts[p]
            longest = max(longest, n)
        for r in range(order.shape[0]):
            if order[r] < 0 or order[r] >= rows:
                raise ValueError("windows: order outside the series")
        if total.shape[1] < steps or count.shape[1] < steps or count.shape[0] < total.shape[0]:
            raise ValueError("windows: result smaller than the grid")
        size = max(longest, 1)
        t = <int64_t*>malloc(size * sizeof(int64_t))
        v = <double*>malloc(size * sizeof(double))
        t2 = <int64_t*>malloc(size * sizeof(int64_t))
        v2 = <double*>malloc(size * sizeof(double))
        runs = <Py_ssize_t*>malloc((size + 2) * sizeof(Py_ssize_t))
        corr = <double*>malloc(size * sizeof(double))
        if t == NULL or v == NULL or t2 == NULL or v2 == NULL or runs == NULL or corr == NULL:
            raise MemoryError()
        with nogil:
            for q in range(order.shape[0]):
                r = order[q]
                n = 0
                for p in range(offsets[r], offsets[r + 1]):
                    n += ends[p] - starts[p]
                _series(tp, vp, chunk, starts, ends, offsets[r], offsets[r + 1], n, t, v, t2,
                        v2, runs, corr, e0, step, rng, steps, fn, op, total, count, gids[r])
    finally:
        free(lens)
        free(tp)
        free(vp)
        free(t)
        free(v)
        free(t2)
        free(v2)
        free(runs)
        free(corr)
