// "Logs and traces of this minute": what happened around a point of any metric graph.
import { useEffect, useState } from "preact/hooks";
import { api, isAbort } from "../api";
import { plural } from "../text";
import { formatTime } from "../time";

interface LogRow {
  timestamp: string;
  log_group: string;
  severity_text: string;
  body: string;
  trace_id: string;
}

interface TraceRow {
  trace_id: string;
  start: string;
  duration_ms: number;
  root_service: string;
  root_name: string;
  error_count: number;
}

export function PointPanel({ timeMs, tz, onClose }: { timeMs: number; tz: string; onClose: () => void }) {
  const start = Math.floor(timeMs / 60000) * 60000;
  const end = start + 60000;
  const [logs, setLogs] = useState<LogRow[] | null>(null);
  const [traces, setTraces] = useState<TraceRow[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    const ac = new AbortController();
    setLogs(null);
    setTraces(null);
    const q = `start=${start}&end=${end}`;
    api<{ logs: LogRow[] }>(`/api/v1/logs?${q}&limit=100`, { signal: ac.signal })
      .then((r) => setLogs(r.logs))
      .catch((e) => !isAbort(e) && setError(e.message));
    api<{ traces: TraceRow[] }>(`/api/v1/traces?${q}&limit=50`, { signal: ac.signal })
      .then((r) => setTraces(r.traces))
      .catch((e) => !isAbort(e) && setError(e.message));
    return () => ac.abort();
  }, [start]);
  return (
    <aside class="side-panel" aria-label="Logs and traces of this minute">
      <header>
        <h2>
          {formatTime(start, tz)} – {formatTime(end, tz, false)}
        </h2>
        <button type="button" onClick={onClose} aria-label="Close panel">
          ✕
        </button>
      </header>
      {error ? <div class="widget-error">{error}</div> : null}
      <h3>Logs {logs ? `(${logs.length})` : ""}</h3>
      {logs === null ? (
        <p class="muted">Loading…</p>
      ) : logs.length === 0 ? (
        <p class="muted">No log lines in this minute.</p>
      ) : (
        <ul class="panel-logs">
          {logs.map((l, i) => (
            <li key={i} class={/err|fatal/i.test(l.severity_text) ? "sev-error" : ""}>
              <span class="muted">{formatTime(Date.parse(l.timestamp), tz, false)}</span>{" "}
              <span class="tag">{l.log_group}</span> {l.body}
            </li>
          ))}
        </ul>
      )}
      <h3>Traces {traces ? `(${traces.length})` : ""}</h3>
      {traces === null ? (
        <p class="muted">Loading…</p>
      ) : traces.length === 0 ? (
        <p class="muted">No traces started in this minute.</p>
      ) : (
        <ul class="panel-traces">
          {traces.map((t) => (
            <li key={t.trace_id}>
              <a href={`/traces/${t.trace_id}`}>{t.root_service} {t.root_name}</a>{" "}
              <span class="muted">{t.duration_ms.toFixed(1)} ms</span>
              {t.error_count ? <span class="tag error"> {plural(t.error_count, "error")}</span> : null}
            </li>
          ))}
        </ul>
      )}
    </aside>
  );
}
