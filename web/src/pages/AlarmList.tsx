// /alarms: every alarm with its state; filters (state, kind, name) in the URL.
import { useEffect, useState } from "preact/hooks";
import { api, isAbort } from "../api";
import { AlarmSummary, STATES } from "../alarms/api";
import { hasFeature } from "../features";
import { navigate, withParams } from "../router";

export function stateClass(state: string): string {
  return `state-badge state-${state.toLowerCase().replace(/_/g, "-")}`;
}

export function StateBadge({ state }: { state: string }) {
  return <span class={stateClass(state)}>{state === "INSUFFICIENT_DATA" ? "Insufficient data" : state === "ALARM" ? "In alarm" : state}</span>;
}

export function AlarmList({ query }: { query: URLSearchParams }) {
  const state = query.get("state");
  const kind = query.get("kind");
  const text = query.get("q") ?? "";
  const [alarms, setAlarms] = useState<AlarmSummary[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [tick, setTick] = useState(0);
  const [search, setSearch] = useState(text);
  useEffect(() => {
    if (!hasFeature("alarms")) return;
    const ac = new AbortController();
    api<{ alarms: AlarmSummary[] }>("/api/v1/alarms", { signal: ac.signal })
      .then((r) => setAlarms(r.alarms))
      .catch((e) => !isAbort(e) && setError(e.message));
    return () => ac.abort();
  }, [tick]);
  useEffect(() => {
    const t = setInterval(() => setTick((x) => x + 1), 30_000);
    return () => clearInterval(t);
  }, []);
  if (!hasFeature("alarms"))
    return (
      <div class="page-message" role="alert">
        <h1>Alarms</h1>
        <p>Alarms are not enabled on this server.</p>
      </div>
    );
  const counts: Record<string, number> = {};
  for (const a of alarms ?? []) counts[a.state] = (counts[a.state] ?? 0) + 1;
  const words = text.toLowerCase().split(/\s+/).filter(Boolean);
  const shown = (alarms ?? []).filter(
    (a) =>
      (!state || a.state === state) &&
      (!kind || a.kind === kind) &&
      words.every((w) => a.name.toLowerCase().includes(w) || (a.reason ?? "").toLowerCase().includes(w)),
  );
  const order = (s: string) => STATES.indexOf(s as (typeof STATES)[number]);
  shown.sort((a, b) => order(a.state) - order(b.state) || b.updated.localeCompare(a.updated));
  const set = (changes: Record<string, string | null>) => navigate(withParams(changes));
  return (
    <div class="page alarms-page">
      <div class="toolbar">
        <h1>Alarms</h1>
        <div class="state-filter" role="group" aria-label="Filter by state">
          <button type="button" aria-pressed={!state} onClick={() => set({ state: null })}>
            All ({alarms?.length ?? 0})
          </button>
          {STATES.map((s) => (
            <button type="button" key={s} aria-pressed={state === s} onClick={() => set({ state: s })}>
              <span class={stateClass(s)}>{s === "INSUFFICIENT_DATA" ? "Insufficient data" : s === "ALARM" ? "In alarm" : s}</span> (
              {counts[s] ?? 0})
            </button>
          ))}
        </div>
        <label class="inline">
          Type
          <select value={kind ?? ""} onChange={(e) => set({ kind: (e.target as HTMLSelectElement).value || null })}>
            <option value="">All</option>
            <option value="MetricAlarm">Metric alarms</option>
            <option value="CompositeAlarm">Composite alarms</option>
          </select>
        </label>
        <form
          class="inline"
          onSubmit={(e) => {
            e.preventDefault();
            set({ q: search.trim() || null });
          }}
        >
          <input type="search" aria-label="Search alarms" placeholder="Search alarms" value={search} onInput={(e) => setSearch((e.target as HTMLInputElement).value)} />
        </form>
        <a class="button" href="/metrics">
          Create alarm from a metric
        </a>
      </div>
      {error ? (
        <div class="widget-error" role="alert">
          {error}
        </div>
      ) : null}
      {alarms === null && !error ? <p class="muted">Loading alarms…</p> : null}
      {alarms && !shown.length ? <p class="muted">{alarms.length ? "No alarm matches these filters." : "No alarms yet: create one from a metric graph."}</p> : null}
      {shown.length ? (
        <table class="data-table alarm-table" aria-label="Alarms">
          <thead>
            <tr>
              <th>State</th>
              <th>Name</th>
              <th>Type</th>
              <th>Last change</th>
              <th>Reason</th>
            </tr>
          </thead>
          <tbody>
            {shown.map((a) => (
              <tr key={a.name} data-alarm={a.name}>
                <td>
                  <StateBadge state={a.state} />
                </td>
                <td>
                  <a href={`/alarms/${encodeURIComponent(a.name)}`}>{a.name}</a>
                </td>
                <td>{a.kind === "CompositeAlarm" ? "Composite" : "Metric"}</td>
                <td>{a.updated.replace("T", " ").slice(0, 19)}</td>
                <td class="reason">{a.reason}</td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : null}
    </div>
  );
}
