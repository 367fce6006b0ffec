// The trace as a waterfall: one row per span (windowed: only the rows on screen are in the
// page, so 10,000+ spans stay responsive), subtrees collapse, bars on a shared time axis,
// spans on the critical path marked, errors in red.
import { useMemo, useRef } from "preact/hooks";
import { PALETTE } from "../chart/UPlotChart";
import { useWindow } from "../logs/virtual";
import { Flat, visibleRows } from "./model";

const ROW = 24;

export function formatMs(ms: number): string {
  if (ms >= 1000) return `${(ms / 1000).toFixed(ms >= 10000 ? 1 : 2)} s`;
  if (ms >= 1) return `${ms.toFixed(ms >= 100 ? 0 : 1)} ms`;
  return `${(ms * 1000).toFixed(0)} µs`;
}

export function Waterfall({
  flat,
  total,
  collapsed,
  selected,
  onToggle,
  onSelect,
}: {
  flat: Flat;
  total: number;
  collapsed: Set<number>;
  selected: number | null;
  onToggle: (i: number) => void;
  onSelect: (i: number) => void;
}) {
  const rows = useMemo(() => visibleRows(flat, collapsed), [flat, collapsed]);
  const scroller = useRef<HTMLDivElement>(null);
  const win = useWindow(scroller, rows.length, () => ROW, rows.length, 15);
  const colour = useMemo(() => {
    const m = new Map<string, string>();
    flat.services.forEach((s, i) => m.set(s, PALETTE[i % PALETTE.length]));
    return m;
  }, [flat]);
  const span = total > 0 ? total : 1;
  const out = [];
  for (let k = win.first; k < win.last; k++) {
    const i = rows[k];
    const s = flat.spans[i];
    const hasKids = flat.childCount[i] > 0;
    const open = !collapsed.has(i);
    const left = (s.offset_ms / span) * 100;
    const width = Math.max((s.duration_ms / span) * 100, 0.1);
    const cls = ["span-row", selected === i ? "selected" : "", flat.error[i] ? "error" : "", flat.critical[i] ? "critical" : ""]
      .filter(Boolean)
      .join(" ");
    out.push(
      <div class={cls} role="row" aria-rowindex={k + 1} aria-selected={selected === i} key={i} style={{ top: `${k * ROW}px` }}>
        <div class="span-name" style={{ paddingLeft: `${4 + flat.depth[i] * 14}px` }}>
          {hasKids ? (
            <button
              type="button"
              class="icon toggle"
              aria-expanded={open}
              aria-label={`${open ? "Collapse" : "Expand"} ${s.name}`}
              onClick={() => onToggle(i)}
            >
              {open ? "▾" : "▸"}
            </button>
          ) : (
            <span class="toggle-space" />
          )}
          <button type="button" class="span-label" onClick={() => onSelect(i)} title={`${s.service}: ${s.name}`}>
            <span class="svc-dot" style={{ background: colour.get(s.service) }} />
            <span class="svc">{s.service}</span> {s.name}
            {hasKids && !open ? <span class="muted"> ({flat.end[i] - i - 1})</span> : null}
          </button>
        </div>
        <div class="span-track" onClick={() => onSelect(i)}>
          <div
            class="span-bar"
            style={{ left: `${left}%`, width: `${width}%`, background: colour.get(s.service) }}
          />
          <span class="span-dur" style={{ left: `${Math.min(left + width, 92)}%` }}>
            {formatMs(s.duration_ms)}
          </span>
        </div>
      </div>,
    );
  }
  const ticks = [0, 0.25, 0.5, 0.75, 1];
  return (
    <div class="waterfall" role="grid" aria-label="Spans" aria-rowcount={rows.length}>
      <div class="waterfall-head">
        <div class="span-name">Service and operation</div>
        <div class="span-track">
          {ticks.map((t) => (
            <span class="tick" key={t} style={{ left: `${t * 100}%` }}>
              {formatMs(t * total)}
            </span>
          ))}
        </div>
      </div>
      <div class="waterfall-scroll" ref={scroller}>
        <div style={{ height: `${win.total}px`, position: "relative" }}>{out}</div>
      </div>
    </div>
  );
}
