// The page's range as epoch milliseconds, resolved again when the range or the reload
// tick changes ("now-1h" moves with the clock). An unreadable bound falls back to the
// last ``fallbackMs`` (the page's default span), so the page shows something and the
// picker shows what was typed.
import { useMemo } from "preact/hooks";
import { Range, resolve } from "./time";

export function useResolvedRange(
  range: Range,
  tick: number,
  fallbackMs = 3600_000,
): { startMs: number; endMs: number } {
  return useMemo(() => {
    const now = Date.now();
    try {
      return { startMs: resolve(range.from, now), endMs: resolve(range.to, now) };
    } catch {
      return { startMs: now - fallbackMs, endMs: now };
    }
  }, [range.from, range.to, tick, fallbackMs]);
}
