// Live tail: new events of the chosen groups as they are ingested (/api/v1/logs/tail, one
// cursor per group, polled each second); Pause keeps the lines and stops following.
import { useEffect, useRef, useState } from "preact/hooks";
import { api, isAbort } from "../api";
import { formatTime } from "../time";
import { Linked, messageTraceId } from "./links";

interface TailEvent {
  timestamp: number;
  ingestion_time: number;
  log_stream: string;
  message: string;
  group: string;
}

const MAX_LINES = 5000;
const POLL_MS = 1000;

export function LiveTail({ groups, tz }: { groups: string[]; tz: string }) {
  const [lines, setLines] = useState<TailEvent[]>([]);
  const [paused, setPaused] = useState(false);
  const [pattern, setPattern] = useState("");
  const [applied, setApplied] = useState("");
  const [error, setError] = useState<string | null>(null);
  const cursors = useRef<Record<string, string | null>>({});
  const box = useRef<HTMLDivElement>(null);

  useEffect(() => {
    cursors.current = {};
    setLines([]);
  }, [groups.join("\n"), applied]);

  useEffect(() => {
    if (paused || groups.length === 0) return;
    const ac = new AbortController();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const poll = async () => {
      try {
        const batches = await Promise.all(
          groups.map(async (g) => {
            const q = new URLSearchParams({ group: g, limit: "200" });
            if (applied) q.set("filter", applied);
            const c = cursors.current[g];
            if (c) q.set("cursor", c);
            const r = await api<{ events: Omit<TailEvent, "group">[]; next_cursor: string | null }>(
              `/api/v1/logs/tail?${q}`,
              { signal: ac.signal },
            );
            if (r.next_cursor) cursors.current[g] = r.next_cursor;
            return r.events.map((e) => ({ ...e, group: g }));
          }),
        );
        const fresh = batches.flat().sort((a, b) => a.ingestion_time - b.ingestion_time);
        if (fresh.length) setLines((old) => [...old, ...fresh].slice(-MAX_LINES));
        setError(null);
      } catch (e) {
        if (isAbort(e)) return;
        setError((e as Error).message);
      }
      timer = setTimeout(poll, POLL_MS);
    };
    poll();
    return () => {
      ac.abort();
      clearTimeout(timer);
    };
  }, [paused, groups.join("\n"), applied]);

  // Follow the newest line unless the user scrolled up to read.
  useEffect(() => {
    const el = box.current;
    if (el && el.scrollHeight - el.scrollTop - el.clientHeight < 80) el.scrollTop = el.scrollHeight;
  }, [lines]);

  if (groups.length === 0) return <p class="muted">Choose a log group to tail.</p>;
  return (
    <section class="live-tail" aria-label="Live tail">
      <div class="tail-bar">
        <span class={paused ? "tail-state paused" : "tail-state live"} role="status">
          {paused ? "Paused" : "Live"} · {lines.length} lines
        </span>
        <button type="button" onClick={() => setPaused(!paused)}>
          {paused ? "Resume" : "Pause"}
        </button>
        <button type="button" onClick={() => setLines([])}>
          Clear
        </button>
        <form
          class="inline"
          onSubmit={(e) => {
            e.preventDefault();
            setApplied(pattern.trim());
          }}
        >
          <input
            type="text"
            aria-label="Filter pattern"
            placeholder='Filter pattern, e.g. ERROR or { $.level = "error" }'
            value={pattern}
            onInput={(e) => setPattern((e.target as HTMLInputElement).value)}
          />
          <button type="submit">Apply</button>
        </form>
      </div>
      {error ? (
        <div class="widget-error" role="alert">
          {error}
        </div>
      ) : null}
      <div class="tail-lines" ref={box} role="log" aria-label="Tailed log lines">
        {lines.length === 0 ? <p class="muted">Waiting for new events…</p> : null}
        {lines.map((l, i) => (
          <div class="tail-line" key={`${l.ingestion_time}-${i}`}>
            <span class="muted">{formatTime(l.timestamp, tz, false)}</span>{" "}
            {groups.length > 1 ? <span class="tag">{l.group}</span> : null} <Linked text={l.message} traceId={messageTraceId(l.message)} />
          </div>
        ))}
      </div>
    </section>
  );
}
