// A trace as the waterfall uses it: the span tree of /api/v1/traces/{id} flattened into
// arrays (depth-first order, parent indices), the critical path marked, and the rows that
// are visible given which spans are collapsed — all O(spans), no recursion (deep traces).

export interface SpanJson {
  span_id: string;
  parent_span_id: string;
  name: string;
  kind: string;
  service: string;
  start_time_unix_nano: string;
  end_time_unix_nano: string;
  duration_ms: number;
  offset_ms: number;
  status: { code: string; message: string };
  attributes: Record<string, unknown>;
  resource: Record<string, unknown>;
  scope: { name: string; version: string };
  events: { name: string; time_unix_nano?: string; timestamp?: string; attributes: Record<string, unknown> }[];
  links: { trace_id: string; span_id: string; attributes?: Record<string, unknown> }[];
  children: SpanJson[];
}

export interface TraceJson {
  trace_id: string;
  start: string;
  start_time_unix_nano: string;
  duration_ms: number;
  span_count: number;
  error_count: number;
  services: string[];
  truncated: boolean;
  spans: SpanJson[];
  log_count?: number;
  logs?: LogLine[];
}

export interface LogLine {
  timestamp: string;
  log_group: string;
  severity_text: string;
  body: string;
  trace_id: string;
  span_id?: string;
}

export interface Flat {
  spans: SpanJson[]; // depth-first order
  parent: Int32Array; // index of the parent, -1 for roots
  depth: Int32Array;
  end: Int32Array; // one past the last descendant (a subtree is [i, end[i]))
  critical: Uint8Array; // 1 when the span is on the critical path
  error: Uint8Array;
  childCount: Int32Array;
  services: string[];
}

export function flatten(roots: SpanJson[]): Flat {
  const spans: SpanJson[] = [];
  const parents: number[] = [];
  const depths: number[] = [];
  const stack: [SpanJson, number, number][] = [];
  for (let i = roots.length - 1; i >= 0; i--) stack.push([roots[i], -1, 0]);
  while (stack.length) {
    const [s, p, d] = stack.pop()!;
    spans.push(s);
    parents.push(p);
    depths.push(d);
    const me = spans.length - 1;
    const kids = [...s.children].sort((a, b) => a.offset_ms - b.offset_ms);
    for (let i = kids.length - 1; i >= 0; i--) stack.push([kids[i], me, d + 1]);
  }
  const n = spans.length;
  const parent = Int32Array.from(parents);
  const depth = Int32Array.from(depths);
  const end = new Int32Array(n);
  const childCount = new Int32Array(n);
  for (let i = n - 1; i >= 0; i--) {
    if (end[i] === 0) end[i] = i + 1;
    const p = parent[i];
    if (p >= 0) {
      childCount[p]++;
      if (end[p] < end[i]) end[p] = end[i];
    }
  }
  const error = new Uint8Array(n);
  spans.forEach((s, i) => (error[i] = s.status.code === "error" ? 1 : 0));
  const services = [...new Set(spans.map((s) => s.service))];
  return { spans, parent, depth, end, critical: criticalPath(spans, parent), error, childCount, services };
}

/** The critical path: from each root, walk back from its end through the child that
 *  finished last before the cursor, then the one before that child started, and so on
 *  (Jaeger's definition); the spans it passes through are marked. */
export function criticalPath(spans: SpanJson[], parent: Int32Array): Uint8Array {
  const n = spans.length;
  const out = new Uint8Array(n);
  const children: number[][] = Array.from({ length: n }, () => []);
  const roots: number[] = [];
  for (let i = 0; i < n; i++) (parent[i] < 0 ? roots : children[parent[i]]).push(i);
  const endOf = (i: number) => spans[i].offset_ms + spans[i].duration_ms;
  // The root that ends last carries the trace's critical path.
  let root = -1;
  for (const r of roots) if (root < 0 || endOf(r) > endOf(root)) root = r;
  if (root < 0) return out;
  const work: [number, number][] = [[root, endOf(root)]]; // span, cursor (latest end considered)
  while (work.length) {
    const [s, until] = work.pop()!;
    out[s] = 1;
    const kids = children[s].slice().sort((a, b) => endOf(b) - endOf(a));
    let cursor = Math.min(until, endOf(s));
    for (const c of kids) {
      if (spans[c].offset_ms >= cursor) continue; // started after the cursor: not waited for
      work.push([c, cursor]);
      cursor = spans[c].offset_ms;
      if (cursor <= spans[s].offset_ms) break;
    }
  }
  return out;
}

/** Indices of the rows shown: every span whose ancestors are all expanded. */
export function visibleRows(flat: Flat, collapsed: Set<number>): Int32Array {
  const n = flat.spans.length;
  const out = new Int32Array(n);
  let k = 0;
  for (let i = 0; i < n; ) {
    out[k++] = i;
    i = collapsed.has(i) ? flat.end[i] : i + 1;
  }
  return out.subarray(0, k);
}

export function xrayId(traceId: string): string {
  return `1-${traceId.slice(0, 8)}-${traceId.slice(8)}`;
}
