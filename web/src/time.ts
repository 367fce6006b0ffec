// Time ranges: relative ("now-3h") or absolute (ISO 8601 / epoch ms), resolved to epoch ms.

export interface Range {
  from: string;
  to: string;
}

export const PRESETS: { label: string; from: string }[] = [
  { label: "5m", from: "now-5m" },
  { label: "15m", from: "now-15m" },
  { label: "1h", from: "now-1h" },
  { label: "3h", from: "now-3h" },
  { label: "12h", from: "now-12h" },
  { label: "1d", from: "now-1d" },
  { label: "3d", from: "now-3d" },
  { label: "1w", from: "now-1w" },
];

const UNIT_MS: Record<string, number> = {
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 604_800_000,
};

/** A CloudWatch dashboard time ("-PT3H", "-P7D", ISO) as a range bound. */
export function fromCloudWatch(value: string | undefined): string | undefined {
  if (!value) return undefined;
  const m = /^-P(?:(\d+)W)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?$/.exec(value);
  if (!m) return value;
  const [w, d, h, min, s] = m.slice(1).map((x) => Number(x ?? 0));
  const secs = (((w * 7 + d) * 24 + h) * 60 + min) * 60 + s;
  if (secs % 604800 === 0) return `now-${secs / 604800}w`;
  if (secs % 86400 === 0) return `now-${secs / 86400}d`;
  if (secs % 3600 === 0) return `now-${secs / 3600}h`;
  if (secs % 60 === 0) return `now-${secs / 60}m`;
  return `now-${secs}s`;
}

export function resolve(bound: string, now: number): number {
  if (bound === "now") return now;
  const rel = /^now-(\d+(?:\.\d+)?)([smhdw])$/.exec(bound);
  if (rel) return now - Number(rel[1]) * UNIT_MS[rel[2]];
  if (/^\d+$/.test(bound)) return Number(bound);
  const t = Date.parse(bound);
  if (Number.isNaN(t)) throw new Error(`not a time: ${bound}`);
  return t;
}

export function isRelative(r: Range): boolean {
  return r.from.startsWith("now") && r.to === "now";
}

/** The period (seconds) for a range: the finest of CloudWatch's usual ones giving at
 *  most ~2,100 points per series (7 days: 5 minutes). */
export function autoPeriod(startMs: number, endMs: number): number {
  const span = (endMs - startMs) / 1000;
  for (const p of [60, 300, 900, 3600, 21600, 86400]) {
    if (span / p <= 2100) return p;
  }
  return 86400;
}

// One formatter per (zone, with date): building an Intl.DateTimeFormat costs ~0.1-0.5 ms,
// and a chart formats every axis tick and every cursor move.
const FORMATTERS = new Map<string, Intl.DateTimeFormat>();

function formatter(tz: string, withDate: boolean): Intl.DateTimeFormat {
  const key = `${tz}|${withDate}`;
  let f = FORMATTERS.get(key);
  if (!f) {
    const opts: Intl.DateTimeFormatOptions = {
      hour: "2-digit",
      minute: "2-digit",
      second: "2-digit",
      hour12: false,
      timeZone: tz === "UTC" ? "UTC" : undefined,
    };
    if (withDate) {
      opts.year = "numeric";
      opts.month = "2-digit";
      opts.day = "2-digit";
    }
    f = new Intl.DateTimeFormat("en-CA", opts);
    FORMATTERS.set(key, f);
  }
  return f;
}

export function formatTime(ms: number, tz: string, withDate = true): string {
  return formatter(tz, withDate).format(ms).replace(",", "");
}

/** ms → the value of an <input type="datetime-local"> in the time zone shown. */
export function toInputValue(ms: number, tz: string): string {
  const d = new Date(tz === "UTC" ? ms : ms - new Date(ms).getTimezoneOffset() * 60000);
  return d.toISOString().slice(0, 16);
}

export function fromInputValue(value: string, tz: string): number {
  if (tz === "UTC") return Date.parse(value + ":00Z");
  return new Date(value).getTime();
}

export function describe(r: Range, tz: string): string {
  if (isRelative(r)) return `Last ${r.from.slice(4)}`;
  const now = Date.now();
  return `${formatTime(resolve(r.from, now), tz)} → ${formatTime(resolve(r.to, now), tz)}`;
}
