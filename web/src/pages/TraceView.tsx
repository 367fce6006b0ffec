// /traces/{id}: the trace as a waterfall (collapsible, windowed), the critical path, one
// span's details beside it, and the trace's log lines inline. URL state: span (selected),
// tz. Unknown or malformed ids say so in the page.
import { useEffect, useMemo, useState } from "preact/hooks";
import { api, ApiError, isAbort } from "../api";
import { traceLogsQuery } from "../logs/query";
import { navigate, withParams } from "../router";
import { plural } from "../text";
import { formatTime } from "../time";
import { flatten, LogLine, TraceJson } from "../traces/model";
import { SpanDetails, XrayDoc } from "../traces/SpanDetails";
import { formatMs, Waterfall } from "../traces/Waterfall";
import { annotations } from "../traces/xray";

export function TraceView({ id, query }: { id: string; query: URLSearchParams }) {
  const tz = query.get("tz") ?? "local";
  const [trace, setTrace] = useState<TraceJson | null>(null);
  const [error, setError] = useState<ApiError | Error | null>(null);
  const [collapsed, setCollapsed] = useState<Set<number>>(new Set());
  const [logState, setLogs] = useState<{ logs: LogLine[]; log_count: number } | null>(null);
  const [docs, setDocs] = useState<Map<string, XrayDoc> | null | undefined>(undefined);
  useEffect(() => {
    const ac = new AbortController();
    setTrace(null);
    setError(null);
    setDocs(undefined);
    // The spans and the log lines are asked for side by side: the waterfall does not wait
    // for the log search.
    const path = `/api/v1/traces/${encodeURIComponent(id)}`;
    api<TraceJson>(`${path}?logs=false`, { signal: ac.signal })
      .then(setTrace)
      .catch((e) => !isAbort(e) && setError(e));
    setLogs(null);
    api<{ logs: LogLine[]; log_count: number }>(`${path}/logs?limit=500`, { signal: ac.signal })
      .then((r) => setLogs(r))
      .catch(() => !ac.signal.aborted && setLogs({ logs: [], log_count: 0 }));
    return () => ac.abort();
  }, [id]);
  const flat = useMemo(() => (trace ? flatten(trace.spans) : null), [trace]);
  const selectedId = query.get("span");
  const selected = useMemo(() => {
    if (!flat || !selectedId) return null;
    const i = flat.spans.findIndex((s) => s.span_id === selectedId);
    return i >= 0 ? i : null;
  }, [flat, selectedId]);
  // Annotations and metadata come from the X-Ray documents, once a span is opened.
  useEffect(() => {
    if (selected === null || docs !== undefined || !trace) return;
    const ac = new AbortController();
    annotations(trace.trace_id, ac.signal)
      .then(setDocs)
      .catch(() => !ac.signal.aborted && setDocs(null));
    return () => ac.abort();
  }, [selected, trace]);
  useEffect(() => {
    if (flat) requestAnimationFrame(() => document.querySelector(".trace-page")?.setAttribute("data-drawn", String(Date.now())));
  }, [flat]);

  if (error) {
    const notFound = error instanceof ApiError && error.status === 404;
    return (
      <div class="page-message" role="alert">
        <h1>{notFound ? "Trace not found" : "This trace cannot be shown"}</h1>
        <p>
          {notFound ? (
            <>
              No trace with id <code>{id}</code> is stored (it may be older than the retention, or not sent yet).
            </>
          ) : (
            error.message
          )}
        </p>
        <p>
          <a href="/traces">Search traces</a>
        </p>
      </div>
    );
  }
  if (!trace || !flat) return <p class="page-message muted">Loading trace {id}…</p>;
  const toggle = (i: number) => {
    const next = new Set(collapsed);
    if (next.has(i)) next.delete(i);
    else next.add(i);
    setCollapsed(next);
  };
  const select = (i: number | null) => navigate(withParams({ span: i === null ? null : flat.spans[i].span_id }), true);
  const startMs = Number(BigInt(trace.start_time_unix_nano) / 1000000n);
  const logs = logState?.logs ?? [];
  const criticalCount = flat.critical.reduce((a, b) => a + b, 0);
  return (
    <div class="trace-page">
      <div class="toolbar trace-head">
        <h1>
          {flat.spans[0]?.service}: {flat.spans[0]?.name}
        </h1>
        <span class="muted" data-testid="trace-summary">
          {formatTime(startMs, tz)} · {formatMs(trace.duration_ms)} · {plural(trace.span_count, "span")} ·{" "}
          {plural(trace.services.length, "service")} · {plural(trace.error_count, "error")}
        </span>
        <code class="muted">{trace.trace_id}</code>
        <button type="button" onClick={() => setCollapsed(new Set())}>
          Expand all
        </button>
        <button
          type="button"
          onClick={() => {
            const all = new Set<number>();
            flat.spans.forEach((_, i) => flat.childCount[i] > 0 && all.add(i));
            setCollapsed(all);
          }}
        >
          Collapse all
        </button>
        <span class="tag critical-tag">critical path: {plural(criticalCount, "span")}</span>
        <a href={`/logs?${new URLSearchParams({ groups: [...new Set(logs.map((l) => l.log_group))].join(","), query: traceLogsQuery(trace.trace_id), from: String(startMs - 3600_000), to: String(startMs + trace.duration_ms + 3600_000) })}`}>
          Logs explorer
        </a>
      </div>
      {trace.truncated ? (
        <div class="widget-error" role="alert">
          This trace has more spans than are shown ({trace.span_count.toLocaleString()} loaded).
        </div>
      ) : null}
      <div class="trace-body">
        <Waterfall
          flat={flat}
          total={trace.duration_ms}
          collapsed={collapsed}
          selected={selected}
          onToggle={toggle}
          onSelect={(i) => select(i === selected ? null : i)}
        />
        {selected !== null ? (
          <SpanDetails
            span={flat.spans[selected]}
            tz={tz}
            critical={flat.critical[selected] === 1}
            xray={docs === undefined ? undefined : docs?.get(flat.spans[selected].span_id) ?? null}
            onClose={() => select(null)}
          />
        ) : null}
      </div>
      <details class="trace-logs" open={logs.length > 0}>
        <summary>
          Logs of this trace ({logState ? logState.log_count.toLocaleString() : "…"})
        </summary>
        {logState === null ? (
          <p class="muted">Looking for log lines…</p>
        ) : logs.length === 0 ? (
          <p class="muted">No log line carries this trace id.</p>
        ) : (
          <ul class="panel-logs" aria-label="Logs of this trace">
            {logs.map((l, i) => {
              const spanIndex = l.span_id ? flat.spans.findIndex((s) => s.span_id === l.span_id) : -1;
              return (
                <li key={i} class={/err|fatal/i.test(l.severity_text) ? "sev-error" : ""}>
                  <span class="muted">{formatTime(Date.parse(l.timestamp), tz, false)}</span> <span class="tag">{l.log_group}</span>{" "}
                  {spanIndex >= 0 ? (
                    <button type="button" class="icon" title="Show its span" onClick={() => select(spanIndex)}>
                      ↗
                    </button>
                  ) : null}{" "}
                  {l.body}
                </li>
              );
            })}
          </ul>
        )}
      </details>
    </div>
  );
}
