// /dashboards: every dashboard, newest change first.
import { useEffect, useState } from "preact/hooks";
import { api, isAbort } from "../api";

export interface DashboardEntry {
  name: string;
  modified: string;
  size: number;
  widgets: number;
}

export function useDashboards(): { list?: DashboardEntry[]; error?: string } {
  const [state, setState] = useState<{ list?: DashboardEntry[]; error?: string }>({});
  useEffect(() => {
    const ac = new AbortController();
    api<{ dashboards: DashboardEntry[] }>("/api/v1/dashboards", { signal: ac.signal })
      .then((r) => setState({ list: r.dashboards }))
      .catch((e) => !isAbort(e) && setState({ error: e.message }));
    return () => ac.abort();
  }, []);
  return state;
}

export function DashboardTable({ list }: { list: DashboardEntry[] }) {
  if (!list.length)
    return (
      <p class="muted">
        No dashboards yet. Create one with boto3's <code>put_dashboard</code>, or run{" "}
        <code>vigil demo</code>.
      </p>
    );
  return (
    <table class="data-table">
      <thead>
        <tr>
          <th>Name</th>
          <th>Widgets</th>
          <th>Last modified</th>
        </tr>
      </thead>
      <tbody>
        {list.map((d) => (
          <tr key={d.name}>
            <td>
              <a href={`/dashboards/${encodeURIComponent(d.name)}`}>{d.name}</a>
            </td>
            <td>{d.widgets}</td>
            <td>{new Date(d.modified).toLocaleString()}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

export function DashboardList() {
  const { list, error } = useDashboards();
  return (
    <div class="page">
      <h1>Dashboards</h1>
      {error ? <div class="widget-error">{error}</div> : list ? <DashboardTable list={list} /> : <p>Loading…</p>}
    </div>
  );
}
