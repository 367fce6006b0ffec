// /service-map: services and what they call over a window (from, to in the URL). Nodes are
// coloured by error/fault rate and p99 latency; edges carry request rate and p99; a click on
// a node opens its traces over the same window.
import { useEffect, useMemo, useState } from "preact/hooks";
import { api, isAbort } from "../api";
import { TimePicker } from "../components/TimePicker";
import { navigate, withParams } from "../router";
import { Range } from "../time";
import { useResolvedRange } from "../resolvedRange";
import { health, layout, MapEdge, MapNode } from "../traces/layout";
import { formatMs } from "../traces/Waterfall";

export function ServiceMap({ query }: { query: URLSearchParams }) {
  const range: Range = { from: query.get("from") ?? "now-1h", to: query.get("to") ?? "now" };
  const tz = query.get("tz") ?? "local";
  const [tick, setTick] = useState(0);
  const [graph, setGraph] = useState<{ nodes: MapNode[]; edges: MapEdge[] } | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [hover, setHover] = useState<string | null>(null);
  const { startMs, endMs } = useResolvedRange(range, tick);
  useEffect(() => {
    const ac = new AbortController();
    setError(null);
    api<{ nodes: MapNode[]; edges: MapEdge[] }>(`/api/v1/service-map?start=${startMs}&end=${endMs}`, { signal: ac.signal })
      .then((g) => {
        setGraph(g);
        requestAnimationFrame(() => document.querySelector(".map-page")?.setAttribute("data-drawn", String(Date.now())));
      })
      .catch((e) => !isAbort(e) && setError(e.message));
    return () => ac.abort();
  }, [startMs, endMs]);
  const placed = useMemo(() => (graph ? layout(graph.nodes, graph.edges) : null), [graph]);
  const go = (changes: Record<string, string | null>) => navigate(withParams(changes));
  const minutes = Math.max((endMs - startMs) / 60000, 1 / 60);
  const tracesOf = (n: MapNode) => {
    const q = new URLSearchParams({ from: String(startMs), to: String(endMs) });
    if (n.instrumented) q.set("service", n.name);
    else q.set("filter", `service("${n.name.replace(/"/g, '\\"')}")`);
    return `/traces?${q}`;
  };
  return (
    <div class="map-page">
      <div class="toolbar">
        <h1>Service map</h1>
        <TimePicker
          range={range}
          tz={tz}
          refresh={query.get("refresh") ?? "off"}
          onRange={(r) => go({ from: r.from, to: r.to === "now" ? null : r.to })}
          onTz={(z) => go({ tz: z === "local" ? null : z })}
          onRefresh={(r) => go({ refresh: r === "off" ? null : r })}
          onReload={() => setTick((t) => t + 1)}
        />
        <span class="legend">
          <span class="health ok">● &lt;1% errors</span> <span class="health warn">● ≥1% or p99 ≥ 1 s</span>{" "}
          <span class="health bad">● ≥5% errors</span>
        </span>
      </div>
      {error ? (
        <div class="widget-error" role="alert">
          {error}
        </div>
      ) : !graph || !placed ? (
        <p class="muted page-message">Loading the service map…</p>
      ) : graph.nodes.length === 0 ? (
        <p class="muted page-message">No traced calls in this window.</p>
      ) : (
        <div class="map-scroll">
          <svg width={placed.width} height={placed.height} role="img" aria-label="Service map" class="service-map">
            <defs>
              <marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse">
                <path d="M 0 0 L 10 5 L 0 10 z" class="arrow" />
              </marker>
            </defs>
            {graph.edges.map((e) => {
              const x1 = placed.x.get(e.source)!;
              const y1 = placed.y.get(e.source)!;
              const x2 = placed.x.get(e.target)!;
              const y2 = placed.y.get(e.target)!;
              const mx = (x1 + x2) / 2;
              const my = (y1 + y2) / 2;
              const label = `${(e.requests / minutes).toFixed(e.requests / minutes >= 10 ? 0 : 1)}/min · p99 ${e.p99_ms == null ? "–" : formatMs(e.p99_ms)}`;
              const on = hover === e.source || hover === e.target;
              return (
                <g key={`${e.source}>${e.target}`} class={`edge ${health(e)}${on ? " on" : ""}`} data-edge={`${e.source}>${e.target}`}>
                  <path d={`M ${x1 + 24} ${y1} C ${mx} ${y1}, ${mx} ${y2}, ${x2 - 26} ${y2}`} marker-end="url(#arrow)" />
                  <text x={mx} y={my - 6} text-anchor="middle" class="edge-label">
                    {label}
                  </text>
                </g>
              );
            })}
            {graph.nodes.map((n) => {
              const x = placed.x.get(n.id)!;
              const y = placed.y.get(n.id)!;
              const h = health(n);
              const rate = n.requests ? (100 * (n.errors + n.faults)) / n.requests : 0;
              return (
                <a
                  key={n.id}
                  href={tracesOf(n)}
                  class={`node ${h}`}
                  aria-label={`${n.name}: ${n.requests} requests, ${rate.toFixed(1)}% errors, p99 ${n.p99_ms == null ? "unknown" : formatMs(n.p99_ms)}`}
                  onMouseEnter={() => setHover(n.id)}
                  onMouseLeave={() => setHover(null)}
                >
                  <circle cx={x} cy={y} r={22} class={n.instrumented ? "" : "remote"} />
                  <text x={x} y={y + 4} text-anchor="middle" class="node-type">
                    {n.type === "client" ? "client" : n.instrumented ? `${rate.toFixed(0)}%` : "ext"}
                  </text>
                  <text x={x} y={y + 38} text-anchor="middle" class="node-name">
                    {n.name}
                  </text>
                  <text x={x} y={y + 52} text-anchor="middle" class="node-stats">
                    {n.requests ? `${(n.requests / minutes).toFixed(1)}/min · p99 ${n.p99_ms == null ? "–" : formatMs(n.p99_ms)}` : ""}
                  </text>
                </a>
              );
            })}
          </svg>
        </div>
      )}
    </div>
  );
}
