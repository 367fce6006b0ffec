// The CloudWatch dashboard body, as the UI reads it.

export interface Widget {
  type: "metric" | "text" | "log" | "alarm" | "explorer" | "custom";
  x?: number;
  y?: number;
  width?: number;
  height?: number;
  properties: Record<string, any>;
}

export interface DashboardBody {
  widgets: Widget[];
  start?: string;
  end?: string;
  periodOverride?: "auto" | "inherit";
  variables?: Record<string, any>[];
}

export interface WidgetContext {
  startMs: number;
  endMs: number;
  tz: string;
  period: number;
  syncKey: string;
  onZoom: (startMs: number, endMs: number) => void;
  onPoint: (timeMs: number) => void;
}

/** Rows of a metric widget with "." and "..." expanded: [values, options]. */
export function metricRows(metrics: any[]): [string[], Record<string, any>][] {
  const out: [string[], Record<string, any>][] = [];
  let previous: string[] = [];
  for (const row of metrics ?? []) {
    if (!Array.isArray(row)) continue;
    const last = row[row.length - 1];
    const options = last && typeof last === "object" ? last : {};
    const values = options === last ? row.slice(0, -1) : row;
    if ("expression" in options) {
      out.push([[], options]);
      continue;
    }
    const expanded: string[] = [];
    values.forEach((v: string, j: number) => {
      if (v === "..." && j === 0)
        expanded.push(...previous.slice(0, Math.max(previous.length - (values.length - 1), 0)));
      else if (v === "." && expanded.length < previous.length)
        expanded.push(previous[expanded.length]);
      else expanded.push(String(v));
    });
    previous = expanded;
    out.push([expanded, options]);
  }
  return out;
}

/** The grid as defined: widgets without x/y flow left to right, top to bottom. */
export function layout(widgets: Widget[]): { x: number; y: number; w: number; h: number }[] {
  let cx = 0;
  let cy = 0;
  let rowH = 0;
  return widgets.map((w) => {
    const width = Math.min(w.width ?? 6, 24);
    const height = w.height ?? 6;
    if (w.x !== undefined && w.y !== undefined) return { x: w.x, y: w.y, w: width, h: height };
    if (cx + width > 24) {
      cx = 0;
      cy += rowH;
      rowH = 0;
    }
    const pos = { x: cx, y: cy, w: width, h: height };
    cx += width;
    rowH = Math.max(rowH, height);
    return pos;
  });
}
