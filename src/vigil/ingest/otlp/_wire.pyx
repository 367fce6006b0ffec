# cython: language_level=3, boundscheck=False, wraparound=False, initializedcheck=False, cdivision=True
"""Native OTLP protobuf decoders: request bytes -> Arrow tables in the model schemas.

See ``vigil.ingest.otlp.native`` for the contract. Each ``decode_*`` returns a ``Decoded``
equal to what the reference decoder gives for the same bytes, or None when it declines the
request (then the caller runs the reference decoder, which also gives the 400 answers).
"""

import sys

import pyarrow as pa

from vigil.ingest.interface import Decoded, Rejections, RequestError
from vigil.ingest.otlp.common import complex_value_text, expansion_message
from vigil.model.logfields import named_trace_id
from vigil.ingest.otlp.logs import log_group_and_stream
from vigil.model.common import (
    MAX_ATTRIBUTE_VALUE_BYTES, MAX_ATTRIBUTES, MAX_BODY_BYTES, MAX_EXPANDED_RESOURCE_BYTES,
    MAX_FUTURE_NS,
)
from vigil.model.logs import LOG_SCHEMA, LogColumns
from vigil.model.spans import SPAN_SCHEMA, SpanColumns
from vigil.model.metrics import METRIC_SCHEMA, MetricColumns
from vigil.ingest.interface import CumulativePoint
from vigil.ingest.otlp.metrics import _stream_id, cloudwatch_unit

include "_wire_core.pxi"

# The limits as C integers: compared with a Python constant, every record's length was
# boxed into a Python int first.
cdef int64_t C_MAX_BODY_BYTES = MAX_BODY_BYTES
cdef int64_t C_MAX_EXPANDED_RESOURCE_BYTES = MAX_EXPANDED_RESOURCE_BYTES
cdef int64_t C_MAX_FUTURE_NS = MAX_FUTURE_NS

if sys.byteorder != "little":  # pragma: no cover - the buffers are written in host order
    raise ImportError("the native OTLP decoders need a little-endian machine")

_complex_text = complex_value_text


cdef inline int64_t future_limit(int64_t now_ns):
    return now_ns + C_MAX_FUTURE_NS


cdef bint all_zero(cptr raw, Py_ssize_t n) noexcept:
    cdef Py_ssize_t i
    for i in range(n):
        if raw[i]:
            return False
    return True


cdef bint has_sub(cptr s, Py_ssize_t n, const char* needle, Py_ssize_t m) noexcept:
    cdef Py_ssize_t i
    for i in range(n - m + 1):
        if s[i] == <unsigned char>needle[0] and memcmp(s + i, needle, m) == 0:
            return True
    return False


cdef str id_problem(Py_ssize_t n, Py_ssize_t size, str field, bint required, cptr raw):
    """check_id's message for a bad id, or None."""
    cdef Py_ssize_t i
    if n == size:
        if required:
            for i in range(n):
                if raw[i]:
                    return None
            return f"{field} is all zeros"
        return None
    if n == 0 and not required:
        return None
    return f"{field} must be {size} bytes, got {n}"


cdef class Table:
    """Columns in the order of a model schema."""

    cdef public list columns
    cdef object schema

    def __init__(self, schema):
        self.schema = schema
        self.columns = [Column(field.type) for field in schema]

    cdef Column col(self, int i):
        return <Column>self.columns[i]

    cdef object finish(self):
        return pa.Table.from_arrays(
            [(<Column>c).finish() for c in self.columns], schema=self.schema)


cdef class Walker:
    """The levels every export request shares: request → resource → scope → items.

    ``walk`` reads each resource's attributes once (``use_resource`` turns them into what
    the signal needs), then its scopes (``use_scope``) and their items (``item``, which
    returns how many items it counts for a rejection). A resource over the limits rejects
    all its items with one message, as the reference decoders do; its items are still read,
    only checked (``emit`` false), so that malformed data anywhere declines the request.
    """

    cdef AttrSet res_attrs
    cdef object rejected
    cdef int64_t now_ns
    cdef cptr scope_name, scope_name_end, scope_version, scope_version_end
    cdef int64_t expanded  # resource bytes repeated on stored rows so far

    def __init__(self, int64_t now_ns):
        self.res_attrs = AttrSet(MAX_ATTRIBUTES, MAX_ATTRIBUTE_VALUE_BYTES)
        self.rejected = Rejections()
        self.now_ns = now_ns

    cdef int walk(self, bytes body) except -1:
        cdef cptr p = <cptr>PyBytes_AS_STRING(body)
        cdef cptr end = p + PyBytes_GET_SIZE(body)
        cdef uint32_t f
        cdef int wt
        cdef cptr a
        cdef cptr b
        while p < end:
            rd_tag(&p, end, &f, &wt)
            if f == 1 and wt == WT_LEN:
                rd_len(&p, end, &a, &b)
                self.resource_block(a, b)
            else:
                skip_field(&p, end, wt)
        return 0

    cdef int resource_block(self, cptr p, cptr end) except -1:
        """Resource{Logs,Spans,Metrics}: resource = 1, scope blocks = 2, schema_url = 3."""
        cdef cptr start = p
        cdef uint32_t f
        cdef int wt
        cdef cptr a
        cdef cptr b
        cdef cptr res = NULL
        cdef cptr res_end = NULL
        cdef Py_ssize_t items = 0
        while p < end:
            rd_tag(&p, end, &f, &wt)
            if f == 1 and wt == WT_LEN:
                if res != NULL:
                    raise _FALLBACK  # a merged Resource
                rd_len(&p, end, &res, &res_end)
            elif f == 3 and wt == WT_LEN:
                rd_string(&p, end, &a, &b)
            else:
                skip_field(&p, end, wt)
        self.res_attrs.reset()
        if res != NULL:
            read_resource(res, res_end, self.res_attrs)
        problem = self.res_attrs.problem("resource attribute")
        if problem is None:
            self.use_resource()
        p = start
        while p < end:
            rd_tag(&p, end, &f, &wt)
            if f == 2 and wt == WT_LEN:
                rd_len(&p, end, &a, &b)
                items += self.scope_block(a, b, problem is None)
            else:
                skip_field(&p, end, wt)
        if problem is not None:
            self.rejected.add(problem, items)
        return 0

    cdef Py_ssize_t scope_block(self, cptr p, cptr end, bint emit) except -1:
        """Scope{Logs,Spans,Metrics}: scope = 1, items = 2, schema_url = 3."""
        cdef cptr start = p
        cdef uint32_t f
        cdef int wt
        cdef cptr a
        cdef cptr b
        cdef cptr scope = NULL
        cdef cptr scope_end = NULL
        cdef Py_ssize_t items = 0
        self.scope_name = self.scope_name_end = <cptr>b""
        self.scope_version = self.scope_version_end = self.scope_name
        while p < end:
            rd_tag(&p, end, &f, &wt)
            if f == 1 and wt == WT_LEN:
                if scope != NULL:
                    raise _FALLBACK
                rd_len(&p, end, &scope, &scope_end)
            elif f == 2 and wt == WT_LEN:
                rd_len(&p, end, &a, &b)
                if not emit:
                    items += self.item(a, b, False)
            elif f == 3 and wt == WT_LEN:
                rd_string(&p, end, &a, &b)
            else:
                skip_field(&p, end, wt)
        if scope != NULL:
            validate_scope(scope, scope_end, &self.scope_name, &self.scope_name_end,
                           &self.scope_version, &self.scope_version_end)
        if not emit:
            return items
        self.use_scope()
        p = start
        while p < end:
            rd_tag(&p, end, &f, &wt)
            if f == 2 and wt == WT_LEN:
                rd_len(&p, end, &a, &b)
                items += self.item(a, b, True)
            else:
                skip_field(&p, end, wt)
        return items

    cdef int use_resource(self) except -1:
        return 0

    cdef int use_scope(self) except -1:
        return 0

    cdef Py_ssize_t item(self, cptr p, cptr end, bint emit) except -1:
        return 1

    cdef int spend(self, Py_ssize_t size) except -1:
        """As the reference's ExpansionBudget: too much repeated resource fails the request."""
        self.expanded += size
        if self.expanded > C_MAX_EXPANDED_RESOURCE_BYTES:
            raise RequestError(expansion_message())
        return 0

    cdef int put_scope(self, Column name, Column version) except -1:
        name.put_str(self.scope_name, self.scope_name_end - self.scope_name)
        version.put_str(self.scope_version, self.scope_version_end - self.scope_version)
        return 0


# ---------------------------------------------------------------- logs

cdef enum LogCol:
    L_TENANT, L_GROUP, L_STREAM, L_TS, L_OBSERVED, L_SEVERITY, L_SEVERITY_TEXT, L_BODY,
    L_ATTRS, L_ATTRS_TYPED, L_RES, L_RES_TYPED, L_SCOPE_NAME, L_SCOPE_VERSION, L_TRACE,
    L_SPAN, L_FLAGS, L_SERVICE


cdef class LogsDecoder(Walker):
    cdef Table out
    cdef Column c_tenant, c_group, c_stream, c_ts, c_observed, c_severity, c_severity_text
    cdef Column c_body, c_attrs, c_attrs_typed, c_res, c_res_typed, c_scope_name
    cdef Column c_scope_version, c_trace, c_span, c_flags, c_service
    cdef AttrSet attrs
    cdef Frozen resource
    cdef Buf body_scratch
    cdef bytes tenant, group, stream, service
    cdef set log_streams
    cdef object tenant_str

    def __init__(self, str tenant, int64_t now_ns):
        Walker.__init__(self, now_ns)
        self.out = Table(LOG_SCHEMA)
        c = self.out.col
        self.c_tenant, self.c_group, self.c_stream = c(L_TENANT), c(L_GROUP), c(L_STREAM)
        self.c_ts, self.c_observed, self.c_severity = c(L_TS), c(L_OBSERVED), c(L_SEVERITY)
        self.c_severity_text, self.c_body = c(L_SEVERITY_TEXT), c(L_BODY)
        self.c_attrs, self.c_attrs_typed = c(L_ATTRS), c(L_ATTRS_TYPED)
        self.c_res, self.c_res_typed = c(L_RES), c(L_RES_TYPED)
        self.c_scope_name, self.c_scope_version = c(L_SCOPE_NAME), c(L_SCOPE_VERSION)
        self.c_trace, self.c_span, self.c_flags = c(L_TRACE), c(L_SPAN), c(L_FLAGS)
        self.c_service = c(L_SERVICE)
        self.attrs = AttrSet(MAX_ATTRIBUTES, MAX_ATTRIBUTE_VALUE_BYTES)
        self.resource = Frozen()
        self.tenant_str = tenant
        self.tenant = tenant.encode()
        self.log_streams = set()

    def __dealloc__(self):
        buf_free(&self.body_scratch)

    cdef object run(self, bytes body):
        self.walk(body)
        return Decoded(
            signal="logs",
            logs=LogColumns(arrow=self.out.finish()),
            log_streams=self.log_streams,
            rejected=self.rejected,
        )

    cdef int use_resource(self) except -1:
        pairs = self.res_attrs.pairs()
        group, stream = log_group_and_stream(dict(pairs), self.res_attrs.typed_keys())
        service = dict(pairs).get("service.name", "")
        self.log_streams.add((self.tenant_str, group, stream))
        self.group, self.stream = group.encode(), stream.encode()
        self.service = service.encode()
        self.resource.load(self.res_attrs)
        return 0

    cdef Py_ssize_t item(self, cptr p, cptr end, bint emit) except -1:
        if self.record(p, end, emit):
            self.put_scope(self.c_scope_name, self.c_scope_version)
        return 1

    cdef int record(self, cptr p, cptr end, bint emit) except -1:
        """Decodes one LogRecord; with emit, appends its row (all but the scope columns)
        and returns 1, or counts its rejection and returns 0."""
        cdef uint32_t f
        cdef int wt
        cdef cptr a
        cdef cptr b
        cdef uint64_t ts = 0, observed = 0, v
        cdef int32_t severity = 0
        cdef uint32_t flags = 0
        cdef cptr sev_text = <cptr>b""
        cdef cptr sev_text_end = sev_text
        cdef cptr trace = sev_text
        cdef cptr trace_end = sev_text
        cdef cptr span = sev_text
        cdef cptr span_end = sev_text
        cdef AnyVal body
        cdef bint has_body = False
        cdef cptr text
        cdef Py_ssize_t text_len, soff, chars
        cdef int64_t limit = future_limit(self.now_ns)
        body.kind = V_NONE
        self.attrs.reset()
        while p < end:
            rd_tag(&p, end, &f, &wt)
            if f == 1 and wt == WT_I64:
                rd_fixed64(&p, end, &ts)
            elif f == 11 and wt == WT_I64:
                rd_fixed64(&p, end, &observed)
            elif f == 2 and wt == WT_VARINT:
                rd_varint(&p, end, &v)
                severity = <int32_t><uint32_t>(v & 0xFFFFFFFFULL)
            elif f == 3 and wt == WT_LEN:
                rd_string(&p, end, &sev_text, &sev_text_end)
            elif f == 5 and wt == WT_LEN:
                if has_body:
                    raise _FALLBACK
                has_body = True
                rd_len(&p, end, &a, &b)
                parse_anyvalue(a, b, 5, &body)
            elif f == 6 and wt == WT_LEN:
                rd_len(&p, end, &a, &b)
                self.attrs.add(a, b, 5)
            elif f == 8 and wt == WT_I32:
                rd_fixed32(&p, end, &flags)
            elif f == 9 and wt == WT_LEN:
                rd_len(&p, end, &trace, &trace_end)
            elif f == 10 and wt == WT_LEN:
                rd_len(&p, end, &span, &span_end)
            elif f == 12 and wt == WT_LEN:
                rd_string(&p, end, &a, &b)
            else:
                skip_field(&p, end, wt)
        if not emit:
            return 0
        if ts == 0:
            ts = observed if observed else <uint64_t>self.now_ns
        if ts > <uint64_t>limit:
            return self.reject(f"log record time_unix_nano {ts} is more than 2 hours in the future")
        if observed > <uint64_t>limit:
            return self.reject(
                f"log record observed_time_unix_nano {observed} is more than 2 hours in the future")
        if severity < 0 or severity > 24:
            return self.reject(f"severity_number {severity} is not in 0..24")
        problem = id_problem(trace_end - trace, 16, "trace_id", False, trace)
        if problem is None:
            problem = id_problem(span_end - span, 8, "span_id", False, span)
        if problem is not None:
            return self.reject(problem)
        self.body_scratch.len = 0
        if has_body:
            render_value(&body, &self.body_scratch, &text, &text_len, &soff)
            if soff >= 0:
                text = self.body_scratch.data + soff
        else:
            text = sev_text
            text_len = 0
        if text_len > C_MAX_BODY_BYTES:
            chars = utf8_chars(text, text_len)
            if chars > C_MAX_BODY_BYTES:
                return self.reject(
                    f"log body of {chars} characters is over the limit of {MAX_BODY_BYTES}")
        problem = self.attrs.problem("attribute")
        if problem is not None:
            return self.reject(problem)
        # The row.
        self.spend(self.resource.size)
        self.c_tenant.put_str(PyBytes_AS_STRING(self.tenant), PyBytes_GET_SIZE(self.tenant))
        self.c_group.put_str(PyBytes_AS_STRING(self.group), PyBytes_GET_SIZE(self.group))
        self.c_stream.put_str(PyBytes_AS_STRING(self.stream), PyBytes_GET_SIZE(self.stream))
        buf_u64(&self.c_ts.data, ts)
        buf_u64(&self.c_observed.data, observed)
        buf_u8(&self.c_severity.data, <uint8_t>severity)
        self.c_severity_text.put_str(sev_text, sev_text_end - sev_text)
        self.c_body.put_str(text, text_len)
        self.attrs.emit(self.c_attrs, self.c_attrs_typed)
        self.resource.emit(self.c_res, self.c_res_typed)
        if trace_end != trace and not all_zero(trace, 16):
            buf_put(&self.c_trace.data, trace, 16)
        else:
            # As the reference: a JSON body naming a trace id fills an empty one.
            named = None
            if has_sub(text, text_len, b"race", 4) or has_sub(text, text_len, b"@xray", 5):
                named = named_trace_id(py_text(text, text_len))
            if named is not None:
                buf_put(&self.c_trace.data, PyBytes_AS_STRING(named), 16)
            else:
                buf_zeros(&self.c_trace.data, 16)
        if span_end == span:
            buf_zeros(&self.c_span.data, 8)
        else:
            buf_put(&self.c_span.data, span, 8)
        buf_u32(&self.c_flags.data, flags)
        self.c_service.put_str(PyBytes_AS_STRING(self.service), PyBytes_GET_SIZE(self.service))
        return 1

    cdef int reject(self, str message) except -1:
        self.rejected.add(message)
        return 0


cdef int read_resource(cptr p, cptr end, AttrSet attrs) except -1:
    """Resource: attributes into ``attrs``; entity refs only checked."""
    cdef uint32_t f
    cdef int wt
    cdef cptr a
    cdef cptr b
    while p < end:
        rd_tag(&p, end, &f, &wt)
        if f == 1 and wt == WT_LEN:
            rd_len(&p, end, &a, &b)
            attrs.add(a, b, 4)
        elif f == 3 and wt == WT_LEN:
            rd_len(&p, end, &a, &b)
            validate_strings(a, b, 4)
        else:
            skip_field(&p, end, wt)
    return 0


def decode_logs(bytes body, str tenant, int64_t now_ns):
    """ExportLogsServiceRequest bytes -> Decoded, or None to let the reference decode."""
    try:
        return LogsDecoder(tenant, now_ns).run(body)
    except Fallback:
        return None



# ---------------------------------------------------------------- traces

cdef enum SpanCol:
    S_TENANT, S_TRACE, S_SPAN, S_PARENT, S_TRACE_STATE, S_NAME, S_KIND, S_SERVICE, S_START,
    S_END, S_STATUS_CODE, S_STATUS_MESSAGE, S_ATTRS, S_ATTRS_TYPED, S_RES, S_RES_TYPED,
    S_SCOPE_NAME, S_SCOPE_VERSION, S_EVENTS, S_LINKS


cdef struct Range:
    cptr start
    cptr stop


cdef class TracesDecoder(Walker):
    cdef Table out
    cdef Column c_tenant, c_trace, c_span, c_parent, c_trace_state, c_name, c_kind, c_service
    cdef Column c_start, c_end, c_status_code, c_status_message, c_attrs, c_attrs_typed
    cdef Column c_res, c_res_typed, c_scope_name, c_scope_version, c_events, c_links
    cdef Column e_struct, e_time, e_name, e_attrs, e_attrs_typed
    cdef Column k_struct, k_trace, k_span, k_state, k_attrs, k_attrs_typed
    cdef AttrSet attrs, sub_attrs
    cdef Frozen resource
    cdef Buf events, links
    cdef bytes tenant, service

    def __init__(self, str tenant, int64_t now_ns):
        Walker.__init__(self, now_ns)
        self.out = Table(SPAN_SCHEMA)
        c = self.out.col
        self.c_tenant, self.c_trace, self.c_span = c(S_TENANT), c(S_TRACE), c(S_SPAN)
        self.c_parent, self.c_trace_state, self.c_name = c(S_PARENT), c(S_TRACE_STATE), c(S_NAME)
        self.c_kind, self.c_service, self.c_start = c(S_KIND), c(S_SERVICE), c(S_START)
        self.c_end, self.c_status_code = c(S_END), c(S_STATUS_CODE)
        self.c_status_message, self.c_attrs = c(S_STATUS_MESSAGE), c(S_ATTRS)
        self.c_attrs_typed, self.c_res, self.c_res_typed = c(S_ATTRS_TYPED), c(S_RES), c(S_RES_TYPED)
        self.c_scope_name, self.c_scope_version = c(S_SCOPE_NAME), c(S_SCOPE_VERSION)
        self.c_events, self.c_links = c(S_EVENTS), c(S_LINKS)
        self.e_struct = child(self.c_events, 0)
        self.e_time, self.e_name = child(self.e_struct, 0), child(self.e_struct, 1)
        self.e_attrs, self.e_attrs_typed = child(self.e_struct, 2), child(self.e_struct, 3)
        self.k_struct = child(self.c_links, 0)
        self.k_trace, self.k_span = child(self.k_struct, 0), child(self.k_struct, 1)
        self.k_state, self.k_attrs = child(self.k_struct, 2), child(self.k_struct, 3)
        self.k_attrs_typed = child(self.k_struct, 4)
        self.attrs = AttrSet(MAX_ATTRIBUTES, MAX_ATTRIBUTE_VALUE_BYTES)
        self.sub_attrs = AttrSet(MAX_ATTRIBUTES, MAX_ATTRIBUTE_VALUE_BYTES)
        self.resource = Frozen()
        self.tenant = tenant.encode()

    def __dealloc__(self):
        buf_free(&self.events)
        buf_free(&self.links)

    cdef object run(self, bytes body):
        self.walk(body)
        return Decoded(
            signal="traces", spans=SpanColumns(arrow=self.out.finish()), rejected=self.rejected
        )

    cdef int use_resource(self) except -1:
        self.service = dict(self.res_attrs.pairs()).get("service.name", "").encode()
        self.resource.load(self.res_attrs)
        return 0

    cdef Py_ssize_t item(self, cptr p, cptr end, bint emit) except -1:
        if self.span(p, end, emit):
            self.put_scope(self.c_scope_name, self.c_scope_version)
        return 1

    cdef int span(self, cptr p, cptr end, bint emit) except -1:
        cdef uint32_t f
        cdef int wt
        cdef cptr a
        cdef cptr b
        cdef cptr empty = <cptr>b""
        cdef cptr trace = empty
        cdef cptr trace_end = empty
        cdef cptr span_id = empty
        cdef cptr span_end = empty
        cdef cptr parent = empty
        cdef cptr parent_end = empty
        cdef cptr state = empty
        cdef cptr state_end = empty
        cdef cptr name = empty
        cdef cptr name_end = empty
        cdef cptr status = NULL
        cdef cptr status_end = NULL
        cdef cptr message = empty
        cdef cptr message_end = empty
        cdef uint64_t start = 0, stop = 0, v
        cdef int32_t kind = 0, code = 0
        cdef Range r
        cdef Py_ssize_t i
        cdef int64_t limit = future_limit(self.now_ns)
        cdef object problem = None
        cdef object sub_problem
        self.attrs.reset()
        self.events.len = 0
        self.links.len = 0
        while p < end:
            rd_tag(&p, end, &f, &wt)
            if f == 1 and wt == WT_LEN:
                rd_len(&p, end, &trace, &trace_end)
            elif f == 2 and wt == WT_LEN:
                rd_len(&p, end, &span_id, &span_end)
            elif f == 3 and wt == WT_LEN:
                rd_string(&p, end, &state, &state_end)
            elif f == 4 and wt == WT_LEN:
                rd_len(&p, end, &parent, &parent_end)
            elif f == 5 and wt == WT_LEN:
                rd_string(&p, end, &name, &name_end)
            elif f == 6 and wt == WT_VARINT:
                rd_varint(&p, end, &v)
                kind = <int32_t><uint32_t>(v & 0xFFFFFFFFULL)
            elif f == 7 and wt == WT_I64:
                rd_fixed64(&p, end, &start)
            elif f == 8 and wt == WT_I64:
                rd_fixed64(&p, end, &stop)
            elif f == 9 and wt == WT_LEN:
                rd_len(&p, end, &a, &b)
                self.attrs.add(a, b, 5)
            elif f == 11 and wt == WT_LEN:
                rd_len(&p, end, &r.start, &r.stop)
                buf_put(&self.events, &r, sizeof(Range))
            elif f == 13 and wt == WT_LEN:
                rd_len(&p, end, &r.start, &r.stop)
                buf_put(&self.links, &r, sizeof(Range))
            elif f == 15 and wt == WT_LEN:
                if status != NULL:
                    raise _FALLBACK
                rd_len(&p, end, &status, &status_end)
            else:
                skip_field(&p, end, wt)
        if status != NULL:
            read_status(status, status_end, &message, &message_end, &code)
        # Events and links are read (and so checked) whatever becomes of the span; their
        # first problems are kept for the order of the reference's checks.
        event_problem = link_problem = None
        for i in range(self.events.len // sizeof(Range)):
            r = (<Range*>self.events.data)[i]
            sub_problem = self.event(r.start, r.stop, False, limit)
            if event_problem is None:
                event_problem = sub_problem
        for i in range(self.links.len // sizeof(Range)):
            r = (<Range*>self.links.data)[i]
            sub_problem = self.link(r.start, r.stop, False)
            if link_problem is None:
                link_problem = sub_problem
        if not emit:
            return 0
        problem = id_problem(trace_end - trace, 16, "trace_id", True, trace)
        if problem is None:
            problem = id_problem(span_end - span_id, 8, "span_id", True, span_id)
        if problem is None:
            problem = id_problem(parent_end - parent, 8, "parent_span_id", False, parent)
        if problem is None:
            if start == 0:
                problem = "span start_time_unix_nano is 0"
            elif start > <uint64_t>limit:
                problem = f"span start_time_unix_nano {start} is more than 2 hours in the future"
            elif stop < start:
                problem = f"span end_time_unix_nano {stop} is before its start {start}"
            elif stop > <uint64_t>limit:
                problem = f"span end_time_unix_nano {stop} is more than 2 hours in the future"
            elif kind < 0 or kind > 5:
                problem = f"span kind {kind} is not in 0..5"
            elif code < 0 or code > 2:
                problem = f"span status code {code} is not in 0..2"
        if problem is None:
            problem = self.attrs.problem("attribute")
        if problem is None:
            problem = event_problem
        if problem is None:
            problem = link_problem
        if problem is not None:
            self.rejected.add(problem)
            return 0
        self.spend(self.resource.size)
        self.c_tenant.put_str(PyBytes_AS_STRING(self.tenant), PyBytes_GET_SIZE(self.tenant))
        buf_put(&self.c_trace.data, trace, 16)
        buf_put(&self.c_span.data, span_id, 8)
        if parent_end == parent:
            buf_zeros(&self.c_parent.data, 8)
        else:
            buf_put(&self.c_parent.data, parent, 8)
        self.c_trace_state.put_str(state, state_end - state)
        self.c_name.put_str(name, name_end - name)
        buf_u8(&self.c_kind.data, <uint8_t>kind)
        self.c_service.put_str(PyBytes_AS_STRING(self.service), PyBytes_GET_SIZE(self.service))
        buf_u64(&self.c_start.data, start)
        buf_u64(&self.c_end.data, stop)
        buf_u8(&self.c_status_code.data, <uint8_t>code)
        self.c_status_message.put_str(message, message_end - message)
        self.attrs.emit(self.c_attrs, self.c_attrs_typed)
        self.resource.emit(self.c_res, self.c_res_typed)
        for i in range(self.events.len // sizeof(Range)):
            r = (<Range*>self.events.data)[i]
            self.event(r.start, r.stop, True, limit)
        self.c_events.end_list(self.e_name.length)
        for i in range(self.links.len // sizeof(Range)):
            r = (<Range*>self.links.data)[i]
            self.link(r.start, r.stop, True)
        self.c_links.end_list(self.k_state.length)
        return 1

    cdef object event(self, cptr p, cptr end, bint emit, int64_t limit):
        """Reads a Span.Event: with emit appends it, else returns its problem (or None)."""
        cdef uint32_t f
        cdef int wt
        cdef cptr a
        cdef cptr b
        cdef cptr name = <cptr>b""
        cdef cptr name_end = name
        cdef uint64_t time = 0
        self.sub_attrs.reset()
        while p < end:
            rd_tag(&p, end, &f, &wt)
            if f == 1 and wt == WT_I64:
                rd_fixed64(&p, end, &time)
            elif f == 2 and wt == WT_LEN:
                rd_string(&p, end, &name, &name_end)
            elif f == 3 and wt == WT_LEN:
                rd_len(&p, end, &a, &b)
                self.sub_attrs.add(a, b, 6)
            else:
                skip_field(&p, end, wt)
        if emit:
            buf_u64(&self.e_time.data, time)
            self.e_name.put_str(name, name_end - name)
            self.sub_attrs.emit(self.e_attrs, self.e_attrs_typed)
            return None
        if time > <uint64_t>limit:
            return f"span event time_unix_nano {time} is more than 2 hours in the future"
        return self.sub_attrs.problem("event attribute")

    cdef object link(self, cptr p, cptr end, bint emit):
        """Reads a Span.Link: with emit appends it, else returns its problem (or None)."""
        cdef uint32_t f
        cdef int wt
        cdef cptr a
        cdef cptr b
        cdef cptr empty = <cptr>b""
        cdef cptr trace = empty
        cdef cptr trace_end = empty
        cdef cptr span_id = empty
        cdef cptr span_end = empty
        cdef cptr state = empty
        cdef cptr state_end = empty
        self.sub_attrs.reset()
        while p < end:
            rd_tag(&p, end, &f, &wt)
            if f == 1 and wt == WT_LEN:
                rd_len(&p, end, &trace, &trace_end)
            elif f == 2 and wt == WT_LEN:
                rd_len(&p, end, &span_id, &span_end)
            elif f == 3 and wt == WT_LEN:
                rd_string(&p, end, &state, &state_end)
            elif f == 4 and wt == WT_LEN:
                rd_len(&p, end, &a, &b)
                self.sub_attrs.add(a, b, 6)
            else:
                skip_field(&p, end, wt)
        if emit:
            buf_put(&self.k_trace.data, trace, 16)
            buf_put(&self.k_span.data, span_id, 8)
            self.k_state.put_str(state, state_end - state)
            self.sub_attrs.emit(self.k_attrs, self.k_attrs_typed)
            return None
        problem = self.sub_attrs.problem("link attribute")
        if problem is None:
            problem = id_problem(trace_end - trace, 16, "link trace_id", True, trace)
        if problem is None:
            problem = id_problem(span_end - span_id, 8, "link span_id", True, span_id)
        return problem


cdef int read_status(cptr p, cptr end, cptr* message, cptr* message_end, int32_t* code) except -1:
    cdef uint32_t f
    cdef int wt
    cdef uint64_t v
    while p < end:
        rd_tag(&p, end, &f, &wt)
        if f == 2 and wt == WT_LEN:
            rd_string(&p, end, message, message_end)
        elif f == 3 and wt == WT_VARINT:
            rd_varint(&p, end, &v)
            code[0] = <int32_t><uint32_t>(v & 0xFFFFFFFFULL)
        else:
            skip_field(&p, end, wt)
    return 0


def decode_traces(bytes body, str tenant, int64_t now_ns):
    """ExportTraceServiceRequest bytes -> Decoded, or None to let the reference decode."""
    try:
        return TracesDecoder(tenant, now_ns).run(body)
    except Fallback:
        return None


# ---------------------------------------------------------------- metrics

cdef enum MetricCol:
    M_TENANT, M_NAMESPACE, M_NAME, M_DIMS, M_UNIT, M_TS, M_START, M_RESOLUTION, M_KIND,
    M_VALUE, M_COUNT, M_MIN, M_MAX, M_BOUNDS, M_BUCKETS, M_TYPE, M_STREAM, M_CUMULATIVE

cdef enum DataKind:
    D_NONE = 0
    D_GAUGE = 5
    D_SUM = 7
    D_HISTOGRAM = 9
    D_EXPONENTIAL = 10
    D_SUMMARY = 11

cdef enum:
    TEMPORALITY_DELTA = 1
    TEMPORALITY_CUMULATIVE = 2
    NO_RECORDED_VALUE = 1


cdef struct Point:
    uint64_t start
    uint64_t time
    uint64_t count
    uint32_t flags
    double value
    bint has_sum
    double sum
    bint has_min
    double min
    bint has_max
    double max


cdef class MetricsDecoder(Walker):
    cdef Table out
    cdef Column c_tenant, c_namespace, c_name, c_dims, c_unit, c_ts, c_start, c_resolution
    cdef Column c_kind, c_value, c_count, c_min, c_max, c_bounds, c_buckets, c_type
    cdef Column c_stream, c_cumulative
    cdef AttrSet attrs
    cdef Buf bounds, buckets
    cdef bytes tenant, namespace, name, unit
    cdef object tenant_str, namespace_str, name_str, unit_str, resource_key, scope_str
    cdef list cumulative

    def __init__(self, str tenant, int64_t now_ns):
        Walker.__init__(self, now_ns)
        self.out = Table(METRIC_SCHEMA)
        c = self.out.col
        self.c_tenant, self.c_namespace, self.c_name = c(M_TENANT), c(M_NAMESPACE), c(M_NAME)
        self.c_dims, self.c_unit, self.c_ts, self.c_start = c(M_DIMS), c(M_UNIT), c(M_TS), c(M_START)
        self.c_resolution, self.c_kind, self.c_value = c(M_RESOLUTION), c(M_KIND), c(M_VALUE)
        self.c_count, self.c_min, self.c_max = c(M_COUNT), c(M_MIN), c(M_MAX)
        self.c_bounds, self.c_buckets, self.c_type = c(M_BOUNDS), c(M_BUCKETS), c(M_TYPE)
        self.c_stream, self.c_cumulative = c(M_STREAM), c(M_CUMULATIVE)
        self.attrs = AttrSet(MAX_ATTRIBUTES, MAX_ATTRIBUTE_VALUE_BYTES)
        self.tenant_str = tenant
        self.tenant = tenant.encode()
        self.cumulative = []

    def __dealloc__(self):
        buf_free(&self.bounds)
        buf_free(&self.buckets)

    cdef object run(self, bytes body):
        self.walk(body)
        return Decoded(
            signal="metrics",
            metrics=MetricColumns(arrow=self.out.finish()),
            cumulative=self.cumulative,
            rejected=self.rejected,
        )

    cdef int use_resource(self) except -1:
        pairs = self.res_attrs.pairs()
        by_key = dict(pairs)
        namespace = by_key.get("service.namespace") or by_key.get("service.name") or "default"
        self.namespace_str = namespace
        self.namespace = namespace.encode()
        self.resource_key = repr(sorted(pairs)).encode()
        return 0

    cdef int use_scope(self) except -1:
        self.scope_str = py_text(self.scope_name, self.scope_name_end - self.scope_name)
        return 0

    cdef Py_ssize_t item(self, cptr p, cptr end, bint emit) except -1:
        return self.metric(p, end, emit)

    cdef Py_ssize_t metric(self, cptr p, cptr end, bint emit) except -1:
        """Decodes a Metric (emit) or only checks it; returns its number of points."""
        cdef uint32_t f
        cdef int wt
        cdef cptr a
        cdef cptr b
        cdef cptr name = <cptr>b""
        cdef cptr name_end = name
        cdef cptr unit = name
        cdef cptr unit_end = name
        cdef cptr data = NULL
        cdef cptr data_end = NULL
        cdef int kind = D_NONE
        cdef int32_t temporality = 0
        cdef bint monotonic = False
        cdef Py_ssize_t points = 0
        cdef uint64_t v
        cdef cptr q
        while p < end:
            rd_tag(&p, end, &f, &wt)
            if f == 1 and wt == WT_LEN:
                rd_string(&p, end, &name, &name_end)
            elif f == 2 and wt == WT_LEN:
                rd_string(&p, end, &a, &b)
            elif f == 3 and wt == WT_LEN:
                rd_string(&p, end, &unit, &unit_end)
            elif (f == 5 or f == 7 or f == 9 or f == 10 or f == 11) and wt == WT_LEN:
                if data != NULL:
                    raise _FALLBACK  # several members of the data oneof
                if f == 10 or f == 11:
                    raise _FALLBACK  # exponential histograms and summaries: the reference
                rd_len(&p, end, &data, &data_end)
                kind = f
            elif f == 12 and wt == WT_LEN:
                rd_len(&p, end, &a, &b)
                validate_keyvalue(a, b, 5)
            else:
                skip_field(&p, end, wt)
        if data == NULL:
            if emit and name_end == name:
                self.rejected.add("metric name is empty", 0)
            return 0
        # The data message: its points, temporality and monotonicity.
        q = data
        while q < data_end:
            rd_tag(&q, data_end, &f, &wt)
            if f == 1 and wt == WT_LEN:
                rd_len(&q, data_end, &a, &b)
                points += 1
            elif f == 2 and wt == WT_VARINT and kind != D_GAUGE:
                rd_varint(&q, data_end, &v)
                temporality = <int32_t><uint32_t>(v & 0xFFFFFFFFULL)
            elif f == 3 and wt == WT_VARINT and kind == D_SUM:
                rd_varint(&q, data_end, &v)
                monotonic = v != 0
            else:
                skip_field(&q, data_end, wt)
        if emit and name_end == name:
            self.rejected.add("metric name is empty", points)
            emit = False
        if emit:
            self.name_str = py_text(name, name_end - name)
            self.name = PyBytes_FromStringAndSize(<const char*>name, name_end - name)
            self.unit_str = cloudwatch_unit(py_text(unit, unit_end - unit))
            self.unit = self.unit_str.encode()
        q = data
        while q < data_end:
            rd_tag(&q, data_end, &f, &wt)
            if f == 1 and wt == WT_LEN:
                rd_len(&q, data_end, &a, &b)
                self.point(a, b, kind, temporality, monotonic, emit)
            else:
                skip_field(&q, data_end, wt)
        return points

    cdef int point(self, cptr p, cptr end, int kind, int32_t temporality, bint monotonic,
                   bint emit) except -1:
        cdef uint32_t f
        cdef int wt
        cdef cptr a
        cdef cptr b
        cdef Point pt
        cdef uint64_t bits
        cdef int values = 0
        cdef bint histogram = kind == D_HISTOGRAM
        cdef uint32_t attrs_field = 9 if histogram else 7
        cdef uint32_t flags_field = 10 if histogram else 8
        cdef uint32_t exemplar_field = 8 if histogram else 5
        cdef int64_t limit = future_limit(self.now_ns)
        memset(&pt, 0, sizeof(Point))
        self.attrs.reset()
        self.bounds.len = 0
        self.buckets.len = 0
        while p < end:
            rd_tag(&p, end, &f, &wt)
            if f == attrs_field and wt == WT_LEN:
                rd_len(&p, end, &a, &b)
                self.attrs.add(a, b, 7)
            elif f == 2 and wt == WT_I64:
                rd_fixed64(&p, end, &pt.start)
            elif f == 3 and wt == WT_I64:
                rd_fixed64(&p, end, &pt.time)
            elif f == flags_field and wt == WT_VARINT:
                rd_varint(&p, end, &bits)
                pt.flags = <uint32_t>bits
            elif f == exemplar_field and wt == WT_LEN:
                rd_len(&p, end, &a, &b)
                validate_exemplar(a, b)
            elif not histogram and f == 4 and wt == WT_I64:
                rd_fixed64(&p, end, &bits)
                pt.value = as_double(bits)
                values += 1
            elif not histogram and f == 6 and wt == WT_I64:
                rd_fixed64(&p, end, &bits)
                pt.value = <double><int64_t>bits
                values += 1
            elif histogram and f == 4 and wt == WT_I64:
                rd_fixed64(&p, end, &pt.count)
            elif histogram and f == 5 and wt == WT_I64:
                rd_fixed64(&p, end, &bits)
                pt.sum = as_double(bits)
                pt.has_sum = True
            elif histogram and f == 11 and wt == WT_I64:
                rd_fixed64(&p, end, &bits)
                pt.min = as_double(bits)
                pt.has_min = True
            elif histogram and f == 12 and wt == WT_I64:
                rd_fixed64(&p, end, &bits)
                pt.max = as_double(bits)
                pt.has_max = True
            elif histogram and (f == 6 or f == 7) and wt == WT_I64:
                rd_fixed64(&p, end, &bits)
                buf_u64(&self.buckets if f == 6 else &self.bounds, bits)
            elif histogram and (f == 6 or f == 7) and wt == WT_LEN:
                rd_len(&p, end, &a, &b)
                if (b - a) % 8:
                    raise _FALLBACK
                buf_put(&self.buckets if f == 6 else &self.bounds, a, b - a)
            else:
                skip_field(&p, end, wt)
        if values > 1:
            raise _FALLBACK
        if not emit or pt.flags & NO_RECORDED_VALUE:
            return 0
        if pt.time == 0:
            return self.reject("time_unix_nano is 0")
        if pt.time > <uint64_t>limit:
            return self.reject(f"time_unix_nano {pt.time} is more than 2 hours in the future")
        if pt.start > <uint64_t>limit:
            return self.reject(
                f"start_time_unix_nano {pt.start} is more than 2 hours in the future")
        problem = self.attrs.problem("attribute")
        if problem is not None:
            return self.reject(problem)
        self.attrs.sort()
        if histogram:
            return self.histogram(&pt, temporality)
        if not isfinite(pt.value):
            return self.reject(f"value {pt.value} is not a finite number")
        if kind == D_SUM and temporality == TEMPORALITY_CUMULATIVE and monotonic:
            self.cumulative.append(self.cumulative_point(&pt, pt.value, 0.0, None, None))
        elif kind == D_SUM and temporality == TEMPORALITY_DELTA:
            self.row(&pt, 0, pt.value, 1.0, 0.0, 0.0, b"sum", False)
        else:
            self.row(&pt, 0, pt.value, 1.0, 0.0, 0.0, b"gauge", False)
        return 0

    cdef int histogram(self, Point* pt, int32_t temporality) except -1:
        cdef Py_ssize_t nb = self.bounds.len // 8, nc = self.buckets.len // 8, i
        cdef double* bounds = <double*>self.bounds.data
        cdef uint64_t* counts = <uint64_t*>self.buckets.data
        cdef uint64_t total = 0
        cdef double value
        if nc and nc != nb + 1:
            return self.reject(
                f"histogram has {nc} bucket counts for {nb} bounds"
                " (expected one more count than bounds)")
        for i in range(nb):
            if not isfinite(bounds[i]) or (i and bounds[i - 1] >= bounds[i]):
                return self.reject("histogram bounds must be finite and strictly increasing")
        for i in range(nc):
            if total + counts[i] < total:
                raise _FALLBACK  # the sum passes 2**64: left to the reference's big ints
            total += counts[i]
        if nc and total != pt.count:
            return self.reject(
                f"histogram bucket counts add up to {total}, not count {pt.count}")
        if pt.has_sum and not isnan(pt.sum) and not isfinite(pt.sum):
            return self.reject(f"histogram sum {pt.sum} is not a finite number")
        value = pt.sum if pt.has_sum else float("nan")
        if temporality == TEMPORALITY_CUMULATIVE:
            bound_list = [bounds[i] for i in range(nb)]
            count_list = [counts[i] for i in range(nc)]
            self.cumulative.append(self.cumulative_point(
                pt, 0.0 if isnan(value) else value, pt.count, bound_list, count_list))
            return 0
        return self.row(
            pt, 2, value, <double>pt.count,
            pt.min if pt.has_min else float("nan"),
            pt.max if pt.has_max else float("nan"), b"histogram", True)

    cdef object cumulative_point(self, Point* pt, double value, object count, object bounds,
                                 object buckets):
        dims = self.attrs.pairs()
        return CumulativePoint(
            stream_id=_stream_id(self.resource_key, self.scope_str, self.name_str, dims),
            tenant=self.tenant_str,
            namespace=self.namespace_str,
            name=self.name_str,
            dimensions=dims,
            unit=self.unit_str,
            start_time=pt.start,
            timestamp=pt.time,
            value=value,
            count=count,
            bounds=bounds,
            buckets=buckets,
        )

    cdef int row(self, Point* pt, uint8_t kind, double value, double count, double low,
                 double high, bytes metric_type, bint with_buckets) except -1:
        self.c_tenant.put_str(PyBytes_AS_STRING(self.tenant), PyBytes_GET_SIZE(self.tenant))
        self.c_namespace.put_str(PyBytes_AS_STRING(self.namespace), PyBytes_GET_SIZE(self.namespace))
        self.c_name.put_str(PyBytes_AS_STRING(self.name), PyBytes_GET_SIZE(self.name))
        self.attrs.emit(self.c_dims, None)
        self.c_unit.put_str(PyBytes_AS_STRING(self.unit), PyBytes_GET_SIZE(self.unit))
        buf_u64(&self.c_ts.data, pt.time)
        buf_u64(&self.c_start.data, pt.start)
        buf_u8(&self.c_resolution.data, 60)
        buf_u8(&self.c_kind.data, kind)
        buf_f64(&self.c_value.data, value)
        buf_f64(&self.c_count.data, count)
        buf_f64(&self.c_min.data, low)
        buf_f64(&self.c_max.data, high)
        cdef Column bounds = child(self.c_bounds, 0)
        cdef Column buckets = child(self.c_buckets, 0)
        if with_buckets:
            buf_put(&bounds.data, self.bounds.data, self.bounds.len)
            buf_put(&buckets.data, self.buckets.data, self.buckets.len)
        self.c_bounds.end_list(bounds.data.len // 8)
        self.c_buckets.end_list(buckets.data.len // 8)
        self.c_type.put_str(PyBytes_AS_STRING(metric_type), PyBytes_GET_SIZE(metric_type))
        buf_u64(&self.c_stream.data, 0)
        buf_f64(&self.c_cumulative.data, 0.0)
        return 0

    cdef int reject(self, str message) except -1:
        self.rejected.add(f"metric {self.name_str!r}: {message}")
        return 0


cdef int validate_exemplar(cptr p, cptr end) except -1:
    cdef uint32_t f
    cdef int wt
    cdef cptr a
    cdef cptr b
    while p < end:
        rd_tag(&p, end, &f, &wt)
        if f == 7 and wt == WT_LEN:
            rd_len(&p, end, &a, &b)
            validate_keyvalue(a, b, 8)
        else:
            skip_field(&p, end, wt)
    return 0


def decode_metrics(bytes body, str tenant, int64_t now_ns):
    """ExportMetricsServiceRequest bytes -> Decoded, or None to let the reference decode."""
    try:
        return MetricsDecoder(tenant, now_ns).run(body)
    except Fallback:
        return None

def double_text(double value):
    """The text the decoders store for a double (exposed for tests)."""
    cdef Buf out
    out.data = NULL
    out.len = out.cap = 0
    try:
        put_double_json(&out, value)
        return py_text(out.data, out.len)
    finally:
        buf_free(&out)
