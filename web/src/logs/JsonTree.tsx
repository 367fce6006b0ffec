// A JSON value as a tree of <details> (objects and arrays collapse); a trace id key's value links to its trace.
import { normalTraceId, TRACE_KEYS, TraceLink } from "./links";

export function JsonTree({ value, name, open = true }: { value: unknown; name?: string; open?: boolean }) {
  const label = name !== undefined ? <span class="json-key">{name}: </span> : null;
  if (value !== null && typeof value === "object") {
    const entries = Array.isArray(value)
      ? value.map((v, i) => [String(i), v] as const)
      : Object.entries(value as Record<string, unknown>);
    const brackets = Array.isArray(value) ? ["[", "]"] : ["{", "}"];
    return (
      <details class="json-node" open={open}>
        <summary>
          {label}
          {brackets[0]}
          <span class="muted"> {entries.length} </span>
          {brackets[1]}
        </summary>
        <div class="json-children">
          {entries.map(([k, v]) => (
            <JsonTree key={k} name={k} value={v} open={entries.length < 30} />
          ))}
        </div>
      </details>
    );
  }
  const cls = typeof value === "string" ? "json-string" : value === null ? "json-null" : "json-scalar";
  return (
    <div class="json-leaf">
      {label}
      <span class={cls}>{typeof value === "string" ? <StringValue name={name} value={value} /> : String(value)}</span>
    </div>
  );
}

export function parseJson(text: string): unknown | undefined {
  const t = text.trim();
  if (!(t.startsWith("{") || t.startsWith("["))) return undefined;
  try {
    return JSON.parse(t);
  } catch {
    return undefined;
  }
}

/** A string; under one of the trace id keys (the record's trace id field), a link. */
function StringValue({ name, value }: { name?: string; value: string }) {
  const id = name !== undefined && TRACE_KEYS.includes(name) ? normalTraceId(value) : null;
  return id ? <TraceLink id={id}>{JSON.stringify(value)}</TraceLink> : <>{JSON.stringify(value)}</>;
}
