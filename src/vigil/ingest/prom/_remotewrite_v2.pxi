# Remote write 2.0 (``io.prometheus.write.v2.Request``), included by ``_remotewrite.pyx``
# (its cursor, ``tag``/``varint``/``skip``/``sub``, ``Label``, ``_Rows`` and
# ``put_samples``: a 2.0 ``Sample`` is 1.0's message, field 2 of its series in both).
#
# ``decode_v2(body, tenant, now_ns)`` returns ``(table, samples, skipped, metadata,
# exemplars)`` or None to decline. ``metadata`` lists, in series order, ``(name, type,
# help, unit)`` of the series that carry a ``metadata`` field, a run of identical ones
# listed once: the caller replays them into the family table exactly as the reference
# does one per series (an identical assignment is a no-op). ``exemplars`` are
# ``SeriesBatch.exemplars``' tuples, in order (``series.py`` filters and stores them). It
# reads what Prometheus ≥ 2.54 sends — symbols, series of label references, float
# samples, per-series metadata, exemplars — and declines the rest to the reference
# decoder, which also words every refusal: native histograms, a symbol table not
# starting with "", a reference out of range or labels_refs of odd length (a series' or
# an exemplar's), an empty, repeated or missing label name or ``__name__``,
# a metric type outside the enum, a timestamp outside the window, text that is not
# UTF-8, malformed protobuf (and a known field sent with another wire type, which
# protobuf would read as an unknown field).

from libc.stdint cimport uint32_t
from libc.string cimport memmove
from cpython.unicode cimport PyUnicode_DecodeUTF8

DEF MAX_REFS = 2 * MAX_LABELS
DEF METRIC_TYPES = 8  # io.prometheus.write.v2.Metadata.MetricType: 0 … 7


cdef struct Symbol:
    cptr p
    Py_ssize_t n


cdef int utf8(cptr s, Py_ssize_t n) except -1:
    """Declines text that is not UTF-8 (protobuf refuses such a ``string``)."""
    cdef Py_ssize_t i
    for i in range(n):
        if s[i] >= 0x80:
            try:
                PyUnicode_DecodeUTF8(<const char*>s, n, NULL)
            except UnicodeDecodeError:
                raise _DECLINE
            return 0
    return 0


cdef inline uint32_t ref(uint64_t value) except? 0xFFFFFFFF:
    # protobuf truncates a uint32 sent wider; never seen from a sender: declined.
    if value > 0xFFFFFFFFULL:
        raise _DECLINE
    return <uint32_t>value


cdef inline str text(Symbol* symbols, uint32_t i):
    return PyUnicode_DecodeUTF8(<const char*>symbols[i].p, symbols[i].n, NULL)


cdef struct Meta:
    bint present
    uint32_t name  # the symbol of the series' name
    uint32_t type
    uint32_t help
    uint32_t unit


cdef int read_metadata(Cursor* c, Meta* m) except -1:
    # A message field sent twice is merged (later scalars win), as protobuf does.
    cdef uint64_t key, value
    m.present = True
    while c.p < c.end:
        key = tag(c)
        if key == (1 << 3 | 0):
            value = varint(c)
            if value >= METRIC_TYPES:
                raise _DECLINE
            m.type = <uint32_t>value
        elif key == (3 << 3 | 0):
            m.help = ref(varint(c))
        elif key == (4 << 3 | 0):
            m.unit = ref(varint(c))
        elif (key >> 3) == 1 or (key >> 3) == 3 or (key >> 3) == 4:
            raise _DECLINE
        else:
            skip(c, key & 7)
    return 0


cdef int read_refs(Cursor* c, uint64_t key, uint32_t* refs, Py_ssize_t* n) except -1:
    """``labels_refs`` (field 1 of a series or an exemplar), packed or not."""
    cdef Cursor packed
    if key == (1 << 3 | 2):  # packed, as senders send it
        sub(c, &packed)
        while packed.p < packed.end:
            if n[0] == MAX_REFS:
                raise _DECLINE
            refs[n[0]] = ref(varint(&packed))
            n[0] += 1
    elif key == (1 << 3 | 0):  # unpacked: protobuf reads it too
        if n[0] == MAX_REFS:
            raise _DECLINE
        refs[n[0]] = ref(varint(c))
        n[0] += 1
    else:
        raise _DECLINE
    return 0


cdef object exemplar(Cursor* c, Symbol* symbols, Py_ssize_t n_symbols, str name, list dims):
    """One exemplar as the reference's tuple: its labels sorted as Python sorts them
    (no check on them: the reference makes none)."""
    cdef uint32_t refs[MAX_REFS]
    cdef Py_ssize_t n_refs = 0, i
    cdef uint64_t key
    cdef double value = 0.0
    cdef int64_t ts = 0
    while c.p < c.end:
        key = tag(c)
        if (key >> 3) == 1:
            read_refs(c, key, refs, &n_refs)
        elif key == (2 << 3 | 1):
            if c.end - c.p < 8:
                raise _DECLINE
            memcpy(&value, c.p, 8)
            c.p += 8
        elif key == (3 << 3 | 0):
            ts = <int64_t>varint(c)
        elif (key >> 3) <= 3:
            raise _DECLINE
        else:
            skip(c, key & 7)
    if n_refs % 2:
        raise _DECLINE
    labels = []
    for i in range(0, n_refs, 2):
        if refs[i] >= n_symbols or refs[i + 1] >= n_symbols:
            raise _DECLINE
        labels.append((text(symbols, refs[i]), text(symbols, refs[i + 1])))
    labels.sort()
    return (name, dims, labels, ts, value)


cdef int series_v2(
    Cursor* c, _Rows rows, Symbol* symbols, Py_ssize_t n_symbols,
    int64_t lo_ms, int64_t hi_ms, Py_ssize_t* skipped, Meta* meta, list exemplars,
) except -1:
    cdef uint32_t refs[MAX_REFS]
    cdef Label labels[MAX_LABELS]
    cdef Label swap
    cdef Py_ssize_t n_refs = 0, count, i, j, name_at = -1
    cdef uint64_t key
    cdef Cursor field
    cdef cptr start = c.p
    cdef Symbol* k
    cdef Symbol* v
    cdef bint has_exemplars = False
    cdef str name
    cdef list dims
    meta.present = False
    meta.name = meta.type = meta.help = meta.unit = 0
    # Pass 1: label references and metadata (float samples besides, nothing else).
    while c.p < c.end:
        key = tag(c)
        if (key >> 3) == 1:
            read_refs(c, key, refs, &n_refs)
        elif key == (2 << 3 | 2):
            skip(c, 2)
        elif key == (4 << 3 | 2):
            skip(c, 2)  # read once the series' labels are known
            has_exemplars = True
        elif key == (5 << 3 | 2):
            sub(c, &field)
            read_metadata(&field, meta)
        elif key == (6 << 3 | 0):  # created_timestamp: not stored
            varint(c)
        elif (key >> 3) <= 6:
            raise _DECLINE  # histograms (3), another wire type
        else:
            skip(c, key & 7)
    if n_refs % 2:
        raise _DECLINE
    count = n_refs // 2
    for i in range(count):
        if refs[2 * i] >= n_symbols or refs[2 * i + 1] >= n_symbols:
            raise _DECLINE
        k = &symbols[refs[2 * i]]
        v = &symbols[refs[2 * i + 1]]
        if k.n == 0:
            raise _DECLINE
        if k.n == 8 and memcmp(k.p, b"__name__", 8) == 0:
            meta.name = refs[2 * i + 1]  # one __name__ at most: checked below
        labels[i].name, labels[i].name_n = k.p, k.n
        labels[i].value, labels[i].value_n = v.p, v.n
        # Insertion sort by name (bytewise = by code point in UTF-8, as the reference
        # sorts): senders send them sorted, so this is one comparison per label.
        j = i
        while j and less(&labels[i], &labels[j - 1]):
            j -= 1
        if j != i:
            swap = labels[i]
            memmove(&labels[j + 1], &labels[j], (i - j) * sizeof(Label))
            labels[j] = swap
    for i in range(count):
        if i and not less(&labels[i - 1], &labels[i]):
            raise _DECLINE  # a repeated name
        if labels[i].name_n == 8 and memcmp(labels[i].name, b"__name__", 8) == 0:
            name_at = i
    if name_at < 0 or labels[name_at].value_n == 0:
        raise _DECLINE
    if meta.present and (meta.help >= n_symbols or meta.unit >= n_symbols):
        raise _DECLINE
    # Pass 2: the samples.
    c.p = start
    put_samples(c, rows, labels, count, name_at, lo_ms, hi_ms, skipped)
    if not has_exemplars:
        return 0
    # Pass 3: exemplars, with the series' name and labels as the reference keys them.
    name = PyUnicode_DecodeUTF8(
        <const char*>labels[name_at].value, labels[name_at].value_n, NULL)
    dims = [
        (PyUnicode_DecodeUTF8(<const char*>labels[i].name, labels[i].name_n, NULL),
         PyUnicode_DecodeUTF8(<const char*>labels[i].value, labels[i].value_n, NULL))
        for i in range(count) if i != name_at and labels[i].value_n
    ]
    c.p = start
    while c.p < c.end:
        key = tag(c)
        if key == (4 << 3 | 2):
            sub(c, &field)
            exemplars.append(exemplar(&field, symbols, n_symbols, name, dims))
        else:
            skip(c, key & 7)
    return 0


def decode_v2(bytes body, str tenant, int64_t now_ns):
    cdef Cursor c, field
    cdef uint64_t key
    cdef Py_ssize_t skipped = 0, n_symbols
    cdef _Rows rows = _Rows()
    cdef Buf table
    cdef Symbol symbol
    cdef Symbol* symbols
    cdef Meta meta, last
    cdef int64_t lo_ms = (now_ns - MAX_PAST_NS) // MS
    cdef int64_t hi_ms = (now_ns + MAX_FUTURE_NS) // MS
    cdef list metadata = []
    cdef list exemplars = []
    cdef cptr begin = <cptr>PyBytes_AS_STRING(body)
    cdef cptr end = begin + PyBytes_GET_SIZE(body)
    table.data, table.len, table.cap = NULL, 0, 0
    last.present = False
    try:
        # Pass 1: the symbol table (all of it is checked, as protobuf checks every
        # string; a sender may put it anywhere in the message).
        c.p, c.end = begin, end
        while c.p < c.end:
            key = tag(&c)
            if key == (4 << 3 | 2):
                sub(&c, &field)
                symbol.p, symbol.n = field.p, field.end - field.p
                utf8(symbol.p, symbol.n)
                buf_put(&table, &symbol, sizeof(Symbol))
            elif (key >> 3) == 4 or (key >> 3) == 5 and (key & 7) != 2:
                raise _DECLINE
            else:
                skip(&c, key & 7)
        symbols = <Symbol*>table.data
        n_symbols = table.len // sizeof(Symbol)
        if n_symbols and symbols[0].n != 0:
            raise _DECLINE  # "symbols[0] must be the empty string": the reference says so
        # Pass 2: the series.
        c.p, c.end = begin, end
        while c.p < c.end:
            key = tag(&c)
            if key == (5 << 3 | 2):
                sub(&c, &field)
                series_v2(
                    &field, rows, symbols, n_symbols, lo_ms, hi_ms, &skipped, &meta, exemplars)
                if meta.present and not (
                    last.present and last.name == meta.name and last.type == meta.type
                    and last.help == meta.help and last.unit == meta.unit
                ):
                    metadata.append((
                        text(symbols, meta.name), meta.type,
                        text(symbols, meta.help), text(symbols, meta.unit),
                    ))
                    last = meta
            else:
                skip(&c, key & 7)
    except Decline:
        return None
    finally:
        PyMem_Free(table.data)
    return rows.table(tenant) if rows.n else None, rows.n, skipped, metadata, exemplars
