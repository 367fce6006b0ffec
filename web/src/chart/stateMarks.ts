// Alarm state changes on a time-series chart (a uPlot plugin): the time an alarm spent in
// ALARM shaded, every transition a vertical line, and one marker per transition in the
// DOM (keyboard-focusable, with its text as title) — what people, screen readers and
// tests read. Used by the metrics explorer, dashboards and the alarm page (where a
// backtest's would-be transitions are drawn dashed).
import uPlot from "uplot";

export interface StateChange {
  timeMs: number;
  old: string;
  state: string; // the new state
  alarm: string;
  reason?: string;
}

export interface StateTrack {
  alarm: string;
  before: string | null; // the state at the start of the range
  changes: StateChange[];
  dashed?: boolean; // would-be changes (backtest)
}

export const STATE_COLORS: Record<string, string> = {
  ALARM: "#d62728",
  OK: "#2ca02c",
  INSUFFICIENT_DATA: "#7f7f7f",
};

/** [startMs, endMs, state] spans of one track over the chart's range. */
export function spans(track: StateTrack, fromMs: number, toMs: number): [number, number, string][] {
  const out: [number, number, string][] = [];
  let state = track.before;
  let at = fromMs;
  for (const c of [...track.changes].sort((a, b) => a.timeMs - b.timeMs)) {
    if (c.timeMs < fromMs) {
      state = c.state;
      continue;
    }
    if (c.timeMs > toMs) break;
    if (state) out.push([at, c.timeMs, state]);
    state = c.state;
    at = c.timeMs;
  }
  if (state) out.push([at, toMs, state]);
  return out;
}

export function stateMarksPlugin(tracks: StateTrack[], formatTime: (ms: number) => string): uPlot.Plugin {
  let layer: HTMLDivElement;
  const place = (u: uPlot) => {
    layer.replaceChildren();
    const [min, max] = [u.scales.x.min ?? 0, u.scales.x.max ?? 0];
    for (const track of tracks) {
      for (const c of track.changes) {
        const t = c.timeMs / 1000;
        if (t < min || t > max) continue;
        const left = u.valToPos(t, "x");
        const mark = document.createElement("button");
        mark.type = "button";
        mark.className = `state-mark state-${c.state.toLowerCase()}${track.dashed ? " would-be" : ""}`;
        mark.style.left = `${left}px`;
        mark.dataset.state = c.state;
        mark.dataset.alarm = track.alarm;
        mark.dataset.time = String(c.timeMs);
        const verb = track.dashed ? "would change" : "changed";
        const text = `${track.alarm} ${verb} from ${c.old} to ${c.state} at ${formatTime(c.timeMs)}`;
        mark.title = c.reason ? `${text}: ${c.reason}` : text;
        mark.setAttribute("aria-label", text);
        layer.appendChild(mark);
      }
    }
  };
  return {
    hooks: {
      init: (u: uPlot) => {
        layer = document.createElement("div");
        layer.className = "state-marks";
        u.over.appendChild(layer);
      },
      // Shading goes under the series; lines over them.
      drawClear: (u: uPlot) => {
        const ctx = u.ctx;
        const from = (u.scales.x.min ?? 0) * 1000;
        const to = (u.scales.x.max ?? 0) * 1000;
        ctx.save();
        for (const track of tracks) {
          for (const [a, b, state] of spans(track, from, to)) {
            if (state !== "ALARM" && state !== "INSUFFICIENT_DATA") continue;
            const x0 = u.valToPos(a / 1000, "x", true);
            const x1 = u.valToPos(b / 1000, "x", true);
            ctx.fillStyle = state === "ALARM" ? (track.dashed ? "#d6272814" : "#d6272826") : "#7f7f7f14";
            ctx.fillRect(x0, u.bbox.top, Math.max(x1 - x0, 1), u.bbox.height);
          }
        }
        ctx.restore();
      },
      draw: (u: uPlot) => {
        const ctx = u.ctx;
        ctx.save();
        ctx.lineWidth = 1.5 * devicePixelRatio;
        for (const track of tracks) {
          ctx.setLineDash(track.dashed ? [4 * devicePixelRatio, 3 * devicePixelRatio] : []);
          for (const c of track.changes) {
            const x = u.valToPos(c.timeMs / 1000, "x", true);
            if (x < u.bbox.left || x > u.bbox.left + u.bbox.width) continue;
            ctx.strokeStyle = STATE_COLORS[c.state] ?? "#7f7f7f";
            ctx.beginPath();
            ctx.moveTo(x, u.bbox.top);
            ctx.lineTo(x, u.bbox.top + u.bbox.height);
            ctx.stroke();
          }
        }
        ctx.restore();
        place(u);
      },
    },
  };
}
