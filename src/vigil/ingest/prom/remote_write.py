"""Remote-write requests (1.0 ``prometheus.WriteRequest``, 2.0
``io.prometheus.write.v2.Request``) → ``SeriesBatch``. Pure: no I/O, no clock.

``decode_v1(body, tenant, now_ns)`` / ``decode_v2(body, tenant, now_ns)`` take the
uncompressed protobuf bytes. Both first try the native decoder (``_remotewrite.pyx``,
``_remotewrite_v2.pxi``: Prometheus' usual requests — float samples, and in 2.0 label
references, per-series metadata and exemplars — straight to Arrow), which gives the same rows and
metadata or declines; the reference path below (``decode_v1_reference`` /
``decode_v2_reference``) decodes the rest and words every refusal. They raise ``RequestError`` when
the message cannot be parsed (or, in 2.0, when its symbol table is unusable), and
otherwise refuse series one by one (counted in ``batch.rejected`` with the reason; the
handler answers 400 after storing the rest):

* a series needs a non-empty ``__name__``; label names must be non-empty and not
  repeated; a label with an empty value is absent (Prometheus' rule);
* 2.0: label references must come in pairs and point into ``symbols``; metadata's help
  and unit references too;
* native histograms are expanded (``histograms.expand``); one that is inconsistent is
  refused.

Metadata: 1.0 sends it per family in ``WriteRequest.metadata`` (Prometheus 2.x every
minute, apart from samples); 2.0 per series, its family named from the series name and
type (``model.prometheus.family_name``). ``created_timestamp`` (2.0) is not stored.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from google.protobuf.message import DecodeError

from vigil.ingest.interface import RequestError
from vigil.ingest.native_modules import native_module
from vigil.ingest.prom import proto
from vigil.ingest.prom.histograms import HistogramError, expand
from vigil.ingest.prom.series import (
    HISTOGRAM,
    HISTOGRAM_COUNT,
    Labels,
    Metadata,
    SeriesBatch,
)
from vigil.model.prometheus import TYPES, family_name

_native = native_module("prom._remotewrite", "remote-write decoder")
NATIVE: Callable[[bytes, str, int], tuple[Any, int, int] | None] | None = (
    None if _native is None else _native.decode
)
NativeV2 = tuple[Any, int, int, list[tuple[str, int, str, str]], list[Any]]
NATIVE_V2: Callable[[bytes, str, int], NativeV2 | None] | None = (
    None if _native is None else _native.decode_v2
)


class _SeriesRejected(Exception):
    pass


def _parse(cls: Any, body: bytes, what: str) -> Any:
    try:
        return cls.FromString(body)
    except (DecodeError, RuntimeError, ValueError) as exc:
        raise RequestError(f"the body is not a valid {what} protobuf message: {exc}") from exc


def _labels(pairs: list[tuple[str, str]]) -> tuple[str, Labels]:
    name = ""
    dims: Labels = []
    seen: set[str] = set()
    for key, value in pairs:
        if not key:
            raise _SeriesRejected("a label name is empty")
        if key in seen:
            raise _SeriesRejected(f"label {key!r} is repeated")
        seen.add(key)
        if key == "__name__":
            name = value
        elif value:
            dims.append((key, value))
    if not name:
        raise _SeriesRejected("a series has no __name__ label")
    dims.sort()
    return name, dims


def _count(ts: Any) -> int:
    return len(ts.samples) + len(ts.histograms)


def _add_samples(batch: SeriesBatch, name: str, dims: Labels, ts: Any) -> None:
    samples = ts.samples
    if samples:
        batch.add(name, dims, [s.timestamp for s in samples], [s.value for s in samples])
    for h in ts.histograms:
        try:
            count, total, buckets = expand(h)
        except HistogramError as exc:
            batch.rejected.add(f"series {name!r}: native histogram: {exc}")
            continue
        t = [h.timestamp]
        batch.add(name + "_count", dims, t, [count], HISTOGRAM_COUNT)
        batch.add(name + "_sum", dims, t, [total], HISTOGRAM)
        for le, cumulative in buckets:
            batch.add(name + "_bucket", sorted([*dims, ("le", le)]), t, [cumulative], HISTOGRAM)


def decode_v1(body: bytes, tenant: str, now_ns: int) -> SeriesBatch:
    if NATIVE is not None:
        result = NATIVE(body, tenant, now_ns)
        if result is not None:
            table, samples, skipped = result
            return SeriesBatch(tenant, native=table, native_samples=samples, native_skipped=skipped)
    return decode_v1_reference(body, tenant)


def decode_v1_reference(body: bytes, tenant: str) -> SeriesBatch:
    request = _parse(proto.WriteRequest, body, "prometheus.WriteRequest")
    batch = SeriesBatch(tenant)
    for ts in request.timeseries:
        try:
            name, dims = _labels([(label.name, label.value) for label in ts.labels])
        except _SeriesRejected as exc:
            batch.rejected.add(str(exc), _count(ts) or 1)
            continue
        _add_samples(batch, name, dims, ts)
        for e in ts.exemplars:
            batch.exemplars.append(
                (name, dims, sorted((x.name, x.value) for x in e.labels), e.timestamp, e.value)
            )
    for m in request.metadata:
        if m.metric_family_name:
            batch.metadata[m.metric_family_name] = Metadata(
                m.metric_family_name, _type(m.type), m.help, m.unit
            )
    return batch


def decode_v2(body: bytes, tenant: str, now_ns: int) -> SeriesBatch:
    if NATIVE_V2 is not None:
        result = NATIVE_V2(body, tenant, now_ns)
        if result is not None:
            table, samples, skipped, metadata, exemplars = result
            batch = SeriesBatch(
                tenant,
                native=table,
                native_samples=samples,
                native_skipped=skipped,
                exemplars=exemplars,
            )
            # One entry per run of series with the same metadata, in series order: the
            # reference's assignments, repeats left out.
            for name, number, help_text, unit in metadata:
                typ = TYPES[number]
                family = family_name(name, typ)
                batch.metadata[family] = Metadata(family, typ, help_text, unit)
            return batch
    return decode_v2_reference(body, tenant)


def decode_v2_reference(body: bytes, tenant: str) -> SeriesBatch:
    request = _parse(proto.RequestV2, body, "io.prometheus.write.v2.Request")
    symbols = list(request.symbols)
    if symbols and symbols[0] != "":
        raise RequestError("symbols[0] must be the empty string")
    batch = SeriesBatch(tenant)
    for ts in request.timeseries:
        try:
            name, dims = _labels(_resolve(symbols, ts.labels_refs))
        except _SeriesRejected as exc:
            batch.rejected.add(str(exc), _count(ts) or 1)
            continue
        _add_samples(batch, name, dims, ts)
        for e in ts.exemplars:
            try:
                labels = sorted(_resolve(symbols, e.labels_refs))
            except _SeriesRejected as exc:
                batch.rejected.add(f"series {name!r}: exemplar: {exc}")
                continue
            batch.exemplars.append((name, dims, labels, e.timestamp, e.value))
        if ts.HasField("metadata"):
            md = ts.metadata
            if max(md.help_ref, md.unit_ref) >= len(symbols):
                batch.rejected.add(f"series {name!r}: a metadata reference is out of range")
                continue
            typ = _type(md.type)
            family = family_name(name, typ)
            batch.metadata[family] = Metadata(
                family, typ, symbols[md.help_ref], symbols[md.unit_ref]
            )
    return batch


def _resolve(symbols: list[str], refs: Any) -> list[tuple[str, str]]:
    if len(refs) % 2:
        raise _SeriesRejected("labels_refs has an odd length")
    n = len(symbols)
    out = []
    for i in range(0, len(refs), 2):
        k, v = refs[i], refs[i + 1]
        if k >= n or v >= n:
            raise _SeriesRejected(f"a label reference is out of range ({n} symbols)")
        out.append((symbols[k], symbols[v]))
    return out


def _type(value: int) -> str:
    return TYPES[value] if 0 <= value < len(TYPES) else "unknown"
