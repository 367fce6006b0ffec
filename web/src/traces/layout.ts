// Service-map layout: callers left of callees (a layer is one more than the deepest caller,
// found by relaxing edges at most |nodes| times, so cycles end), nodes spread in each layer.

export interface MapNode {
  id: string;
  name: string;
  type: string;
  root: boolean;
  instrumented: boolean;
  requests: number;
  errors: number;
  faults: number;
  throttles: number;
  avg_ms: number | null;
  p99_ms: number | null;
}

export interface MapEdge {
  source: string;
  target: string;
  requests: number;
  errors: number;
  faults: number;
  p99_ms: number | null;
  avg_ms: number | null;
}

export interface Placed {
  x: Map<string, number>;
  y: Map<string, number>;
  width: number;
  height: number;
}

export const COL = 240;
export const ROWH = 110;

export function layout(nodes: MapNode[], edges: MapEdge[]): Placed {
  const layer = new Map(nodes.map((n) => [n.id, 0]));
  for (let pass = 0; pass < nodes.length; pass++) {
    let changed = false;
    for (const e of edges) {
      if (e.source === e.target) continue;
      const want = (layer.get(e.source) ?? 0) + 1;
      if (want > (layer.get(e.target) ?? 0) && want < nodes.length) {
        layer.set(e.target, want);
        changed = true;
      }
    }
    if (!changed) break;
  }
  const columns = new Map<number, string[]>();
  for (const n of nodes) {
    const l = layer.get(n.id) ?? 0;
    if (!columns.has(l)) columns.set(l, []);
    columns.get(l)!.push(n.id);
  }
  const tallest = Math.max(1, ...[...columns.values()].map((c) => c.length));
  const height = tallest * ROWH + 40;
  const x = new Map<string, number>();
  const y = new Map<string, number>();
  for (const [l, ids] of columns) {
    ids.sort();
    ids.forEach((id, i) => {
      x.set(id, 90 + l * COL);
      y.set(id, (height - ids.length * ROWH) / 2 + ROWH * i + ROWH / 2);
    });
  }
  const width = 180 + Math.max(0, ...columns.keys()) * COL;
  return { x, y, width, height };
}

/** Errors and faults over requests; the colour of a node by it and its p99. */
export function health(n: { requests: number; errors: number; faults: number; p99_ms: number | null }): "ok" | "warn" | "bad" {
  const rate = n.requests ? (n.errors + n.faults) / n.requests : 0;
  if (rate >= 0.05) return "bad";
  if (rate >= 0.01 || (n.p99_ms ?? 0) >= 1000) return "warn";
  return "ok";
}
