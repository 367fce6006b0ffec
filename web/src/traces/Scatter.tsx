// Traces as dots: start time across, duration up; errors in red; a click opens the trace.
import { formatTime } from "../time";
import { TraceHit } from "./search";
import { formatMs } from "./Waterfall";

const W = 1000;
const H = 200;
const PAD = { l: 60, r: 10, t: 10, b: 24 };

export function Scatter({
  hits,
  startMs,
  endMs,
  tz,
  onOpen,
}: {
  hits: TraceHit[];
  startMs: number;
  endMs: number;
  tz: string;
  onOpen: (id: string) => void;
}) {
  const maxD = Math.max(1, ...hits.map((h) => h.durationMs)) * 1.1;
  const x = (t: number) => PAD.l + ((t - startMs) / Math.max(endMs - startMs, 1)) * (W - PAD.l - PAD.r);
  const y = (d: number) => H - PAD.b - (d / maxD) * (H - PAD.t - PAD.b);
  const yTicks = [0, 0.5, 1].map((f) => f * maxD);
  const xTicks = [0, 0.25, 0.5, 0.75, 1].map((f) => startMs + f * (endMs - startMs));
  return (
    <figure class="scatter" aria-label="Trace durations over time">
      <svg viewBox={`0 0 ${W} ${H}`} role="img" aria-label="Duration by start time">
        {yTicks.map((d) => (
          <g key={d}>
            <line x1={PAD.l} x2={W - PAD.r} y1={y(d)} y2={y(d)} class="grid-line" />
            <text x={PAD.l - 4} y={y(d) + 4} text-anchor="end" class="axis-text">
              {formatMs(d)}
            </text>
          </g>
        ))}
        {xTicks.map((t) => (
          <text key={t} x={x(t)} y={H - 6} text-anchor="middle" class="axis-text">
            {formatTime(t, tz, false).slice(0, 5)}
          </text>
        ))}
        {hits.map((h) => (
          <circle
            key={h.id}
            cx={x(h.startMs)}
            cy={y(h.durationMs)}
            r={5}
            class={h.error ? "dot error" : "dot"}
            role="link"
            tabIndex={0}
            aria-label={`Trace ${h.id}, ${formatMs(h.durationMs)}`}
            onClick={() => onOpen(h.id)}
            onKeyDown={(e) => e.key === "Enter" && onOpen(h.id)}
          >
            <title>
              {h.root} · {formatMs(h.durationMs)}
            </title>
          </circle>
        ))}
      </svg>
    </figure>
  );
}
