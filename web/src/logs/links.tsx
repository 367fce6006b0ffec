// Trace ids inside log text become links to their trace (/traces/{id}).
import type { ComponentChildren } from "preact";

const TRACE_ID = /\b(1-[0-9a-f]{8}-[0-9a-f]{24}|[0-9a-f]{32})\b/gi;

export function traceIdOf(text: string): string | null {
  TRACE_ID.lastIndex = 0;
  const m = TRACE_ID.exec(text);
  return m ? m[1] : null;
}

export function Linked({ text }: { text: string }) {
  const out: ComponentChildren[] = [];
  let at = 0;
  TRACE_ID.lastIndex = 0;
  for (let m = TRACE_ID.exec(text); m; m = TRACE_ID.exec(text)) {
    if (m.index > at) out.push(text.slice(at, m.index));
    out.push(
      <a class="trace-link" href={`/traces/${m[1]}`} title="Open this trace" key={m.index}>
        {m[1]}
      </a>,
    );
    at = m.index + m[0].length;
  }
  if (at === 0) return <>{text}</>;
  if (at < text.length) out.push(text.slice(at));
  return <>{out}</>;
}
