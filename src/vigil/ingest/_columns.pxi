# Column buffers of the native decoders that fill Arrow columns byte by byte
# (``_putmetricdata.pyx``, ``prom/_remotewrite.pyx``), included by both. The including
# module defines ``_DECLINE`` (the exception that declines a request to the reference
# decoder) and imports ``numpy as np`` and ``pyarrow as pa``.

from libc.stdint cimport int32_t
from libc.string cimport memcpy
from cpython.bytes cimport PyBytes_FromStringAndSize
from cpython.mem cimport PyMem_Free, PyMem_Realloc


cdef struct Buf:
    unsigned char* data
    Py_ssize_t len
    Py_ssize_t cap


cdef int buf_grow(Buf* b, Py_ssize_t n) except -1:
    """Room for ``n`` more bytes: the capacity doubles, from 4 KiB."""
    cdef Py_ssize_t cap = b.cap * 2 if b.cap else 4096
    cdef unsigned char* d
    while cap < b.len + n:
        cap *= 2
    d = <unsigned char*>PyMem_Realloc(b.data, cap)
    if d == NULL:
        raise MemoryError()
    b.data = d
    b.cap = cap
    return 0


cdef inline int buf_put(Buf* b, const void* src, Py_ssize_t n) except -1:
    # The growth apart, so that the common case inlines into the decoders' loops.
    if b.len + n > b.cap:
        buf_grow(b, n)
    if n:
        memcpy(b.data + b.len, src, n)
    b.len += n
    return 0


cdef object buf_arrow(Buf* b):
    return pa.py_buffer(PyBytes_FromStringAndSize(<char*>b.data, b.len))


cdef struct StrCol:
    Buf offsets  # int32, one more than the strings (the caller puts the first 0)
    Buf data


cdef inline int str_put(StrCol* c, const void* s, Py_ssize_t n) except -1:
    cdef int32_t end
    buf_put(&c.data, s, n)
    if c.data.len > 2147483647:
        raise _DECLINE
    end = <int32_t>c.data.len
    buf_put(&c.offsets, &end, 4)
    return 0


cdef object str_arrow(StrCol* c, Py_ssize_t n):
    return pa.Array.from_buffers(
        pa.string(), n, [None, buf_arrow(&c.offsets), buf_arrow(&c.data)])


cdef inline void str_free(StrCol* c) noexcept:
    PyMem_Free(c.offsets.data)
    PyMem_Free(c.data.data)


cdef object constant(str text, Py_ssize_t n):
    """A string column of ``n`` times ``text``, built from its buffers (``take`` of a
    one-row array cost a sixth of the decoding)."""
    raw = text.encode()
    offsets = np.arange(n + 1, dtype=np.int32) * np.int32(len(raw))
    return pa.Array.from_buffers(pa.string(), n, [None, pa.py_buffer(offsets), pa.py_buffer(raw * n)])
