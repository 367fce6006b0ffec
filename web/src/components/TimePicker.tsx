// Time range (relative presets or absolute from/to), time zone and refresh interval;
// all three live in the URL.
import { useState } from "preact/hooks";
import { describe, fromInputValue, PRESETS, Range, resolve, toInputValue } from "../time";

export const REFRESH = ["off", "10s", "30s", "1m", "5m", "15m"];

export function refreshMs(value: string): number {
  const m = /^(\d+)([sm])$/.exec(value);
  return m ? Number(m[1]) * (m[2] === "s" ? 1000 : 60000) : 0;
}

interface Props {
  range: Range;
  tz: string;
  refresh: string;
  onRange: (r: Range) => void;
  onTz: (tz: string) => void;
  onRefresh: (r: string) => void;
  onReload: () => void;
}

export function TimePicker({ range, tz, refresh, onRange, onTz, onRefresh, onReload }: Props) {
  const [open, setOpen] = useState(false);
  const now = Date.now();
  const [from, setFrom] = useState("");
  const [to, setTo] = useState("");
  const openAbsolute = () => {
    setFrom(toInputValue(resolve(range.from, now), tz));
    setTo(toInputValue(resolve(range.to, now), tz));
    setOpen(!open);
  };
  return (
    <div class="time-picker" role="group" aria-label="Time range">
      {PRESETS.map((p) => (
        <button
          type="button"
          key={p.label}
          class={range.from === p.from && range.to === "now" ? "preset active" : "preset"}
          aria-pressed={range.from === p.from && range.to === "now"}
          onClick={() => onRange({ from: p.from, to: "now" })}
        >
          {p.label}
        </button>
      ))}
      <button type="button" class="preset" aria-expanded={open} onClick={openAbsolute}>
        Custom
      </button>
      <span class="range-text" data-testid="range-text">
        {describe(range, tz)}
      </span>
      <label class="inline">
        Time zone
        <select value={tz} onChange={(e) => onTz((e.target as HTMLSelectElement).value)}>
          <option value="local">Local</option>
          <option value="UTC">UTC</option>
        </select>
      </label>
      <label class="inline">
        Refresh
        <select value={refresh} onChange={(e) => onRefresh((e.target as HTMLSelectElement).value)}>
          {REFRESH.map((r) => (
            <option key={r} value={r}>
              {r === "off" ? "Off" : r}
            </option>
          ))}
        </select>
      </label>
      <button type="button" onClick={onReload} aria-label="Reload data">
        ⟳
      </button>
      {open ? (
        <form
          class="absolute-range"
          onSubmit={(e) => {
            e.preventDefault();
            const a = fromInputValue(from, tz);
            const b = fromInputValue(to, tz);
            if (a < b) {
              onRange({ from: String(a), to: String(b) });
              setOpen(false);
            }
          }}
        >
          <label>
            From
            <input type="datetime-local" value={from} onInput={(e) => setFrom((e.target as HTMLInputElement).value)} />
          </label>
          <label>
            To
            <input type="datetime-local" value={to} onInput={(e) => setTo((e.target as HTMLInputElement).value)} />
          </label>
          <button type="submit">Apply</button>
        </form>
      ) : null}
    </div>
  );
}
