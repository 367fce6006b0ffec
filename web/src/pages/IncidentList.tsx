// /incidents: incidents by status (and alarm) from the URL, who is on call now, silences
// and maintenance windows.
import { useEffect, useState } from "preact/hooks";
import { api, isAbort } from "../api";
import { hasFeature } from "../features";
import { Incident, STATUSES } from "../incidents/api";
import { OnCall, Silences } from "../incidents/Silences";
import { navigate, withParams } from "../router";
import { formatTime } from "../time";

export function StatusBadge({ status }: { status: string }) {
  return <span class={`status-badge status-${status}`}>{status}</span>;
}

export function IncidentList({ query }: { query: URLSearchParams }) {
  const status = query.get("status");
  const alarm = query.get("alarm");
  const tz = query.get("tz") ?? "local";
  const [list, setList] = useState<Incident[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    if (!hasFeature("incidents")) return;
    const ac = new AbortController();
    const q = new URLSearchParams({ limit: "500" });
    if (status) q.set("status", status);
    api<{ incidents: Incident[] }>(`/api/v1/incidents?${q}`, { signal: ac.signal })
      .then((r) => setList(r.incidents))
      .catch((e) => !isAbort(e) && setError(e.message));
    return () => ac.abort();
  }, [status]);
  if (!hasFeature("incidents"))
    return (
      <div class="page-message" role="alert">
        <h1>Incidents</h1>
        <p>Incidents are not enabled on this server.</p>
      </div>
    );
  const set = (changes: Record<string, string | null>) => navigate(withParams(changes));
  const shown = (list ?? []).filter((i) => !alarm || i.alarm === alarm || i.alarm.endsWith(`:alarm:${alarm}`));
  return (
    <div class="page incidents-page">
      <div class="toolbar">
        <h1>Incidents</h1>
        <div class="state-filter" role="group" aria-label="Filter by status">
          <button type="button" aria-pressed={!status} onClick={() => set({ status: null })}>
            All
          </button>
          {STATUSES.map((s) => (
            <button type="button" key={s} aria-pressed={status === s} onClick={() => set({ status: s })}>
              {s[0].toUpperCase() + s.slice(1)}
            </button>
          ))}
        </div>
        {alarm ? (
          <span>
            Alarm <strong>{alarm}</strong>{" "}
            <button type="button" class="small" onClick={() => set({ alarm: null })} aria-label="Show every alarm's incidents">
              ✕
            </button>
          </span>
        ) : null}
      </div>
      <div class="incidents-layout">
        <div>
          {error ? (
            <div class="widget-error" role="alert">
              {error}
            </div>
          ) : null}
          {list === null && !error ? <p class="muted">Loading incidents…</p> : null}
          {list && !shown.length ? <p class="muted">No incidents.</p> : null}
          {shown.length ? (
            <table class="data-table" aria-label="Incidents">
              <thead>
                <tr>
                  <th>Status</th>
                  <th>Severity</th>
                  <th>Title</th>
                  <th>Escalation</th>
                  <th>Opened</th>
                </tr>
              </thead>
              <tbody>
                {shown.map((i) => (
                  <tr key={i.id} data-incident={i.id}>
                    <td>
                      <StatusBadge status={i.status} />
                    </td>
                    <td>{i.severity}</td>
                    <td>
                      <a href={`/incidents/${encodeURIComponent(i.id)}`}>{i.title}</a>
                    </td>
                    <td>
                      step {Math.min(i.step, i.steps)} of {i.steps}
                    </td>
                    <td>{formatTime(i.opened * 1000, tz)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          ) : null}
          <Silences tz={tz} />
        </div>
        <OnCall />
      </div>
    </div>
  );
}
