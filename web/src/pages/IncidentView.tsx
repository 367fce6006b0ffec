// /incidents/{id}: what happened (title, alarm, severity), how far escalation got (its
// steps, the next one's time), the notifications sent for it, its timeline, and the
// Acknowledge / Resolve buttons.
import { useEffect, useState } from "preact/hooks";
import { api, ApiError, isAbort } from "../api";
import { Delivery, Incident, incidentPath } from "../incidents/api";
import { formatTime } from "../time";
import { StatusBadge } from "./IncidentList";

export function IncidentView({ id, query }: { id: string; query: URLSearchParams }) {
  const tz = query.get("tz") ?? "local";
  const [inc, setInc] = useState<{ data?: Incident; error?: ApiError | Error }>({});
  const [sent, setSent] = useState<Delivery[] | null>(null);
  const [levels, setLevels] = useState<Record<string, any>[] | null>(null);
  const [tick, setTick] = useState(0);
  const [message, setMessage] = useState<{ text: string; error?: boolean } | null>(null);
  const [busy, setBusy] = useState(false);
  useEffect(() => {
    const ac = new AbortController();
    api<Incident>(incidentPath(id), { signal: ac.signal })
      .then((data) => setInc({ data }))
      .catch((e) => !isAbort(e) && setInc({ error: e }));
    api<{ notifications: Delivery[] }>("/api/v1/notifications?limit=1000", { signal: ac.signal })
      .then((r) => setSent(r.notifications.filter((n) => n.notification.startsWith(`esc/${id}/`))))
      .catch((e) => !isAbort(e) && setSent([]));
    return () => ac.abort();
  }, [id, tick]);
  const policy = inc.data?.policy;
  useEffect(() => {
    if (!policy) return;
    api<{ levels: Record<string, any>[] }>(`/api/v1/escalation-policies/${encodeURIComponent(policy)}`)
      .then((r) => setLevels(r.levels))
      .catch(() => setLevels(null));
  }, [policy]);
  if (inc.error) {
    const missing = inc.error instanceof ApiError && inc.error.status === 404;
    return (
      <div class="page-message" role="alert">
        <h1>{missing ? "Incident not found" : "The incident could not be loaded"}</h1>
        <p>{missing ? <>There is no incident <strong>{id}</strong>.</> : inc.error.message}</p>
        <p>
          <a href="/incidents">See all incidents</a>
        </p>
      </div>
    );
  }
  const i = inc.data;
  if (!i) return <div class="page-message">Loading incident…</div>;
  const act = async (what: "ack" | "resolve") => {
    setBusy(true);
    try {
      await api<Incident>(`${incidentPath(id)}/${what}`, { method: "POST", body: { by: "web UI" } });
      setMessage({ text: what === "ack" ? "Acknowledged: escalation stopped." : "Resolved." });
    } catch (e) {
      setMessage({ text: e instanceof Error ? e.message : String(e), error: true });
    } finally {
      setBusy(false);
      setTick((x) => x + 1);
    }
  };
  // Alarm incidents are keyed by the alarm's ARN (…:alarm:NAME); declared ones by their key.
  const alarmName = /:alarm:(.+)$/.exec(i.alarm)?.[1] ?? null;
  return (
    <div class="page incident-page">
      <div class="toolbar">
        <h1>{i.title}</h1>
        <StatusBadge status={i.status} />
        <button type="button" disabled={busy || i.status !== "open"} onClick={() => void act("ack")}>
          Acknowledge
        </button>
        <button type="button" disabled={busy || i.status === "resolved"} onClick={() => void act("resolve")}>
          Resolve
        </button>
      </div>
      {message ? (
        <p role={message.error ? "alert" : "status"} class={message.error ? "widget-error" : "notice"}>
          {message.text}
        </p>
      ) : null}
      <dl class="facts">
        <dt>Severity</dt>
        <dd>{i.severity}</dd>
        <dt>Alarm</dt>
        <dd>{alarmName ? <a href={`/alarms/${encodeURIComponent(alarmName)}`}>{alarmName}</a> : i.alarm}</dd>
        <dt>Opened</dt>
        <dd>{formatTime(i.opened * 1000, tz)}</dd>
        {i.acknowledged ? (
          <>
            <dt>Acknowledged</dt>
            <dd>
              {formatTime(i.acknowledged * 1000, tz)} by {i.acknowledged_by}
            </dd>
          </>
        ) : null}
        {i.resolved ? (
          <>
            <dt>Resolved</dt>
            <dd>{formatTime(i.resolved * 1000, tz)}</dd>
          </>
        ) : null}
        <dt>Links</dt>
        <dd>
          <a href={`/logs?start=${i.opened * 1000 - 600_000}&end=${i.opened * 1000 + 300_000}`}>Logs around the start</a>
          {" · "}
          <a href={`/traces?start=${i.opened * 1000 - 600_000}&end=${i.opened * 1000 + 300_000}`}>Traces around the start</a>
        </dd>
      </dl>
      <section aria-label="Escalation">
        <h2>Escalation</h2>
        <ol class="escalation" aria-label={`Step ${Math.min(i.step, i.steps)} of ${i.steps}`}>
          {Array.from({ length: i.steps }, (_, k) => (
            <li key={k} class={k < i.step ? "done" : k === i.step && i.status === "open" ? "next" : "pending"}>
              Step {k + 1}
              {levels?.[k] ? <span class="muted"> — {describeLevel(levels[k])}</span> : null}
              {k < i.step ? " ✓ notified" : k === i.step && i.status === "open" && i.next_step_at ? ` at ${formatTime(i.next_step_at * 1000, tz)}` : ""}
            </li>
          ))}
        </ol>
        {i.steps === 0 ? <p class="muted">No escalation steps.</p> : null}
        <p class="muted" data-testid="escalation-progress">
          {i.status === "open"
            ? i.step >= i.steps
              ? "Every step has been notified."
              : `Step ${i.step + 1} of ${i.steps} is next${i.next_step_at ? ` at ${formatTime(i.next_step_at * 1000, tz)}` : ""}.`
            : `Escalation stopped: ${i.status}.`}
        </p>
      </section>
      <section aria-label="Notifications sent">
        <h2>Notifications</h2>
        {sent === null ? (
          <p class="muted">Loading…</p>
        ) : sent.length === 0 ? (
          <p class="muted">No notification for this incident yet.</p>
        ) : (
          <table class="data-table">
            <thead>
              <tr>
                <th>Time</th>
                <th>Kind</th>
                <th>To</th>
                <th>Status</th>
                <th>Attempts</th>
              </tr>
            </thead>
            <tbody>
              {sent.map((n) => (
                <tr key={n.id}>
                  <td>{formatTime(n.created * 1000, tz)}</td>
                  <td>{n.kind}</td>
                  <td>
                    {n.channel}: {n.target}
                  </td>
                  <td>
                    {n.status}
                    {n.reason ? <span class="muted"> ({n.reason})</span> : null}
                  </td>
                  <td>{n.attempts.length}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </section>
      <section aria-label="Timeline">
        <h2>Timeline</h2>
        <ul class="timeline">
          {(i.history ?? []).map((h, k) => (
            <li key={k}>
              <time>{formatTime(h.at * 1000, tz)}</time> <strong>{h.kind}</strong> {h.detail}
            </li>
          ))}
        </ul>
      </section>
    </div>
  );
}

function describeLevel(level: Record<string, any>): string {
  const parts: string[] = [];
  if (level.targets) parts.push(`notify ${[].concat(level.targets).join(", ")}`);
  if (level.schedule) parts.push(`on call of ${level.schedule}`);
  if (level.wait ?? level.delay) parts.push(`then wait ${level.wait ?? level.delay} s`);
  return parts.join(", ") || JSON.stringify(level);
}
