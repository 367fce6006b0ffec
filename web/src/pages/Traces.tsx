// /traces: search by X-Ray filter expression, or by service, operation, duration and
// errors, over a time range; a duration scatter and the list, both opening the trace.
// URL state: filter, service, name, min, max, error, from, to, tz.
import { useEffect, useState } from "preact/hooks";
import { api, isAbort } from "../api";
import { TimePicker } from "../components/TimePicker";
import { navigate, withParams } from "../router";
import { formatTime, Range } from "../time";
import { useResolvedRange } from "../resolvedRange";
import { Scatter } from "../traces/Scatter";
import { normalize, TraceHit } from "../traces/search";
import { formatMs } from "../traces/Waterfall";

const FIELDS = ["filter", "service", "name", "min", "max", "error"] as const;

export function Traces({ query }: { query: URLSearchParams }) {
  const range: Range = { from: query.get("from") ?? "now-1h", to: query.get("to") ?? "now" };
  const tz = query.get("tz") ?? "local";
  const mode = query.get("filter") !== null ? "filter" : "fields";
  const [form, setForm] = useState<Record<string, string>>({});
  const [tick, setTick] = useState(0);
  const [hits, setHits] = useState<TraceHit[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [tab, setTab] = useState(mode);
  const key = FIELDS.map((f) => query.get(f) ?? "").join("\u0000");
  useEffect(() => {
    const f: Record<string, string> = {};
    for (const k of FIELDS) f[k] = query.get(k) ?? "";
    setForm(f);
    setTab(mode);
  }, [key]);
  const { startMs, endMs } = useResolvedRange(range, tick);

  useEffect(() => {
    const ac = new AbortController();
    const q = new URLSearchParams({ start: String(startMs), end: String(endMs), limit: "500" });
    const filter = query.get("filter");
    if (filter !== null && filter.trim()) q.set("filter", filter);
    else {
      for (const [param, name] of [
        ["service", "service"],
        ["name", "name"],
        ["min", "min_duration_ms"],
        ["max", "max_duration_ms"],
      ]) {
        const v = query.get(param);
        if (v) q.set(name, v);
      }
      if (query.get("error") === "1") q.set("error", "true");
    }
    setHits(null);
    setError(null);
    api<{ traces: any[] }>(`/api/v1/traces?${q}`, { signal: ac.signal })
      .then((r) => setHits(r.traces.map(normalize)))
      .catch((e) => !isAbort(e) && setError(e.message));
    return () => ac.abort();
  }, [key, startMs, endMs]);

  const go = (changes: Record<string, string | null>) => navigate(withParams(changes));
  const submit = (e: Event) => {
    e.preventDefault();
    if (tab === "filter") go({ filter: form.filter ?? "", service: null, name: null, min: null, max: null, error: null });
    else
      go({
        filter: null,
        service: form.service || null,
        name: form.name || null,
        min: form.min || null,
        max: form.max || null,
        error: form.error === "1" ? "1" : null,
      });
  };
  const input = (k: string, label: string, numeric = false) => {
    const onInput = (e: Event) => setForm({ ...form, [k]: (e.target as HTMLInputElement).value });
    return (
      <label>
        {label}
        {numeric ? (
          <input type="number" min="0" value={form[k] ?? ""} onInput={onInput} />
        ) : (
          <input type="text" value={form[k] ?? ""} onInput={onInput} />
        )}
      </label>
    );
  };
  const open = (id: string) => navigate(`/traces/${id}`);
  return (
    <div class="traces-page">
      <div class="toolbar">
        <h1>Traces</h1>
        <TimePicker
          range={range}
          tz={tz}
          refresh={query.get("refresh") ?? "off"}
          onRange={(r) => go({ from: r.from, to: r.to === "now" ? null : r.to })}
          onTz={(z) => go({ tz: z === "local" ? null : z })}
          onRefresh={(r) => go({ refresh: r === "off" ? null : r })}
          onReload={() => setTick((t) => t + 1)}
        />
        <a href="/service-map">Service map</a>
      </div>
      <form class="trace-search" onSubmit={submit}>
        <div class="tabs" role="tablist">
          <button type="button" role="tab" aria-selected={tab === "fields"} onClick={() => setTab("fields")}>
            Service and duration
          </button>
          <button type="button" role="tab" aria-selected={tab === "filter"} onClick={() => setTab("filter")}>
            Filter expression
          </button>
        </div>
        {tab === "filter" ? (
          <label class="filter-expr">
            X-Ray filter expression
            <input
              type="text"
              value={form.filter ?? ""}
              placeholder='service("checkout") AND responsetime > 1 AND annotation.tier = "gold"'
              onInput={(e) => setForm({ ...form, filter: (e.target as HTMLInputElement).value })}
            />
          </label>
        ) : (
          <div class="search-fields">
            {input("service", "Service")}
            {input("name", "Operation")}
            {input("min", "Min duration (ms)", true)}
            {input("max", "Max duration (ms)", true)}
            <label class="inline">
              <input
                type="checkbox"
                checked={form.error === "1"}
                onChange={(e) => setForm({ ...form, error: (e.target as HTMLInputElement).checked ? "1" : "" })}
              />
              Errors only
            </label>
          </div>
        )}
        <button type="submit" class="primary">
          Search
        </button>
      </form>
      <div class="trace-results">
        {error ? (
          <div class="widget-error" role="alert">
            {error}
          </div>
        ) : hits === null ? (
          <p class="muted">Searching…</p>
        ) : hits.length === 0 ? (
          <p class="muted">No traces match in this time range.</p>
        ) : (
          <>
            <Scatter hits={hits} startMs={startMs} endMs={endMs} tz={tz} onOpen={open} />
            <p class="muted">{hits.length} traces{hits.length >= 500 ? " (the newest 500)" : ""}</p>
            <table class="data-table" aria-label="Traces">
              <thead>
                <tr>
                  <th>Trace</th>
                  <th>Start</th>
                  <th>Duration</th>
                  <th>Spans</th>
                  <th>Services</th>
                  <th>Logs</th>
                </tr>
              </thead>
              <tbody>
                {hits.map((h) => (
                  <tr key={h.id} class={h.error ? "sev-error" : ""}>
                    <td>
                      <a href={`/traces/${h.id}`}>{h.root || h.id}</a>
                      {h.error ? <span class="tag error"> error</span> : null}
                    </td>
                    <td>{formatTime(h.startMs, tz)}</td>
                    <td>{formatMs(h.durationMs)}</td>
                    <td>{h.spans ?? ""}</td>
                    <td>{h.services.join(", ")}</td>
                    <td>{h.logs || ""}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </>
        )}
      </div>
    </div>
  );
}
