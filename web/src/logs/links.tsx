// A log line links to its trace by the record's trace id — the `@traceId` field (the store's
// column: OTLP's trace id, or the one the JSON message named at ingest), a trace id field of
// the row, or the JSON message's own `trace_id` / `traceId` / `@xrayTraceId` (the keys
// ingest reads, model/logfields.py) — never by a hex-looking run of the message text.
import type { ComponentChildren } from "preact";

export const TRACE_KEYS = ["trace_id", "traceId", "@xrayTraceId"];
const HEX32 = /^[0-9a-f]{32}$/i;
const XRAY = /^1-([0-9a-f]{8})-([0-9a-f]{24})$/i;

/** A trace id as the trace pages name it (32 lowercase hex), or null if the value is none. */
export function normalTraceId(value: unknown): string | null {
  if (typeof value !== "string") return null;
  const v = value.trim();
  let id: string | null = null;
  if (HEX32.test(v)) id = v.toLowerCase();
  else {
    const m = XRAY.exec(v);
    if (m) id = (m[1] + m[2]).toLowerCase();
  }
  return id && /[^0]/.test(id) ? id : null;
}

/** The record's trace id, from a result row's fields. */
export function recordTraceId(row: Record<string, string>): string | null {
  for (const k of ["@traceId", ...TRACE_KEYS]) {
    const id = normalTraceId(row[k]);
    if (id) return id;
  }
  return messageTraceId(row["@message"]);
}

/** The trace id a JSON message names in one of its top-level trace id keys. */
export function messageTraceId(message: string | undefined): string | null {
  if (!message || !message.trimStart().startsWith("{") || !/race|@xray/.test(message)) return null;
  try {
    const obj = JSON.parse(message);
    if (obj === null || typeof obj !== "object" || Array.isArray(obj)) return null;
    for (const k of TRACE_KEYS) {
      const id = normalTraceId(obj[k]);
      if (id) return id;
    }
  } catch {
    return null;
  }
  return null;
}

export function TraceLink({ id, children }: { id: string; children?: ComponentChildren }) {
  return (
    <a class="trace-link" href={`/traces/${id}`} title="Open this trace">
      {children ?? id}
    </a>
  );
}

/** ``text`` with the record's trace id linked where the text spells it (as 32 hex digits
 *  or X-Ray's 1-xxxxxxxx-… form); if it does not, a link follows the text. */
export function Linked({ text, traceId }: { text: string; traceId: string | null }) {
  if (!traceId) return <>{text}</>;
  const forms = [traceId, `1-${traceId.slice(0, 8)}-${traceId.slice(8)}`];
  const lower = text.toLowerCase();
  const out: ComponentChildren[] = [];
  let at = 0;
  for (;;) {
    let next = -1;
    let form = "";
    for (const f of forms) {
      const i = lower.indexOf(f, at);
      if (i >= 0 && (next < 0 || i < next)) [next, form] = [i, f];
    }
    if (next < 0) break;
    if (next > at) out.push(text.slice(at, next));
    out.push(
      <TraceLink id={traceId} key={next}>
        {text.slice(next, next + form.length)}
      </TraceLink>,
    );
    at = next + form.length;
  }
  if (at === 0)
    return (
      <>
        {text}{" "}
        <TraceLink id={traceId}>trace {traceId}</TraceLink>
      </>
    );
  if (at < text.length) out.push(text.slice(at));
  return <>{out}</>;
}
