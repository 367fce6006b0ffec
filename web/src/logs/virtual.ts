// Windowed rendering for long lists: only the rows in (or near) the viewport are in the DOM.
// Row tops come from a prefix sum, so rows may have different (known) heights.
import { useLayoutEffect, useMemo, useState } from "preact/hooks";
import type { RefObject } from "preact";

export interface Window {
  first: number; // first rendered index
  last: number; // one past the last rendered index
  top: (i: number) => number;
  total: number; // px
}

/** `heights(i)` for each of `count` rows; `version` changes when the heights change. */
export function useWindow(
  scroller: RefObject<HTMLElement | null>,
  count: number,
  heights: (i: number) => number,
  version: unknown,
  overscan = 10,
): Window {
  const [view, setView] = useState({ scroll: 0, height: 600 });
  useLayoutEffect(() => {
    const el = scroller.current;
    if (!el) return;
    const update = () => setView({ scroll: el.scrollTop, height: el.clientHeight || 600 });
    update();
    el.addEventListener("scroll", update, { passive: true });
    const ro = new ResizeObserver(update);
    ro.observe(el);
    return () => {
      el.removeEventListener("scroll", update);
      ro.disconnect();
    };
  }, [scroller.current]);
  // Prefix sums, recomputed when the rows or their heights change (O(n)).
  const prefix = useMemo(() => {
    const p = new Float64Array(count + 1);
    for (let i = 0; i < count; i++) p[i + 1] = p[i] + heights(i);
    return p;
  }, [count, version]);
  const find = (y: number) => {
    let lo = 0;
    let hi = count;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (prefix[mid + 1] <= y) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
  const first = Math.max(0, find(view.scroll) - overscan);
  const last = Math.min(count, find(view.scroll + view.height) + 1 + overscan);
  return { first, last, top: (i) => prefix[i], total: prefix[count] };
}
