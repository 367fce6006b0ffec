// /: where a newcomer lands after `make run`: dashboards, recent alarms, how to send data.
import { useEffect, useState } from "preact/hooks";
import { api } from "../api";
import { hasFeature } from "../features";
import { DashboardTable, useDashboards } from "./DashboardList";

export function Home() {
  const { list, error } = useDashboards();
  const [alarms, setAlarms] = useState<{ name: string; state: string }[] | null>(null);
  useEffect(() => {
    if (!hasFeature("alarms")) return;
    api<{ alarms: { name: string; state: string }[] }>("/api/v1/alarms?state=ALARM")
      .then((r) => setAlarms(r.alarms))
      .catch(() => setAlarms(null));
  }, []);
  return (
    <div class="page home">
      <h1>vigil</h1>
      <section aria-labelledby="home-dashboards">
        <h2 id="home-dashboards">Dashboards</h2>
        {error ? <div class="widget-error">{error}</div> : list ? <DashboardTable list={list} /> : <p>Loading…</p>}
      </section>
      <section aria-labelledby="home-alarms">
        <h2 id="home-alarms">Recent alarms</h2>
        {!hasFeature("alarms") ? (
          <p class="muted">Alarms are not enabled on this server.</p>
        ) : alarms === null ? (
          <p class="muted">Loading…</p>
        ) : alarms.length === 0 ? (
          <p class="muted">No alarm is firing.</p>
        ) : (
          <ul class="alarm-list">
            {alarms.map((a) => (
              <li key={a.name} class={`alarm alarm-${a.state.toLowerCase()}`}>
                <span class="alarm-state">{a.state}</span> <a href={`/alarms/${encodeURIComponent(a.name)}`}>{a.name}</a>
              </li>
            ))}
          </ul>
        )}
      </section>
      <section aria-labelledby="home-send" class="hint">
        <h2 id="home-send">Send sample data</h2>
        <p>
          Run <code>vigil demo</code> to feed a realistic workload (metrics, JSON logs with errors,
          traces) and create two dashboards, or point any OpenTelemetry SDK at{" "}
          <code>http://localhost:4318</code> and boto3 at <code>endpoint_url="{location.origin}"</code>.
        </p>
      </section>
    </div>
  );
}
