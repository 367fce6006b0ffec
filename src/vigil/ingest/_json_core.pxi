# JSON reading shared by the native JSON decoders (``_putmetricdata.pyx``, ``_xray.pyx``):
# a cursor over the body's bytes, whitespace, punctuation and key comparison. Included
# textually: the including module defines ``cptr`` and ``_DECLINE`` (the exception that
# sends the input to the reference decoder) before this line, and cimports ``memcmp``.


cdef struct Reader:
    cptr p
    cptr end


cdef inline void ws(Reader* r) noexcept:
    cdef unsigned char c
    while r.p < r.end:
        c = r.p[0]
        if c == 32 or c == 10 or c == 13 or c == 9:
            r.p += 1
        else:
            return


cdef inline int expect(Reader* r, unsigned char c) except -1:
    ws(r)
    if r.p >= r.end or r.p[0] != c:
        raise _DECLINE
    r.p += 1
    return 0


cdef inline bint peek(Reader* r, unsigned char c) noexcept:
    ws(r)
    return r.p < r.end and r.p[0] == c


cdef inline bint key_is(cptr k, Py_ssize_t n, const char* name, Py_ssize_t m) noexcept:
    return n == m and memcmp(k, name, m) == 0


# Exact powers of ten as doubles (Clinger's fast path: a mantissa ≤ 2^53 times one of these
# is correctly rounded).
cdef double[23] POW10 = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
    1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
]
