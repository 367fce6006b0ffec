// A JSON value as a tree of <details> (objects and arrays collapse), strings with trace-id links.
import { Linked } from "./links";

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
      <span class={cls}>{typeof value === "string" ? <Linked text={JSON.stringify(value)} /> : String(value)}</span>
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
