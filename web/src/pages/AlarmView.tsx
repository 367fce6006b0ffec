// /alarms/{name}: the alarm's state and reason; its metric with the threshold or band, its
// real state changes and the changes a backtest of its definition says it would have made
// over the range (7 days by default); its history; edit and delete; links to the metric,
// to the logs and traces around its last change, and to its incidents.
import { JSX } from "preact";
import { useEffect, useMemo, useState } from "preact/hooks";
import { api, ApiError, isAbort } from "../api";
import { AlarmForm } from "../alarms/AlarmForm";
import { alarmPath, AlarmDetail, AnnotatedAlarm, Backtest, HistoryItem, toTrack } from "../alarms/api";
import { BacktestChart, summary } from "../alarms/BacktestChart";
import { PointPanel } from "../components/PointPanel";
import { TimePicker } from "../components/TimePicker";
import { navigate, withParams } from "../router";
import { formatTime, Range, resolve } from "../time";
import { StateBadge } from "./AlarmList";

const MAX_RANGE_MS = 15 * 86400_000;

function condition(d: Record<string, any>): string {
  const words: Record<string, string> = {
    GreaterThanThreshold: ">",
    GreaterThanOrEqualToThreshold: "≥",
    LessThanThreshold: "<",
    LessThanOrEqualToThreshold: "≤",
    LessThanLowerOrGreaterThanUpperThreshold: "outside the band",
    GreaterThanUpperThreshold: "above the band",
    LessThanLowerThreshold: "below the band",
  };
  const n = d.EvaluationPeriods;
  const m = d.DatapointsToAlarm ?? n;
  const what = d.MetricName
    ? `${d.Statistic ?? d.ExtendedStatistic} of ${d.Namespace} · ${d.MetricName}`
    : (d.Metrics ?? []).find((q: any) => q.ReturnData !== false && q.Id !== d.ThresholdMetricId)?.Expression ??
      "the metric";
  const cmp = words[d.ComparisonOperator] ?? d.ComparisonOperator;
  const threshold = d.ThresholdMetricId ? "" : ` ${d.Threshold}`;
  const period = d.Period ?? (d.Metrics ?? []).find((q: any) => q.MetricStat)?.MetricStat.Period;
  return `${what} ${cmp}${threshold} for ${m} of ${n} periods of ${period} s (missing data: ${d.TreatMissingData ?? "missing"})`;
}

/** A composite alarm's rule with each alarm it names linked to that alarm's page. */
function RuleText({ rule }: { rule: string }) {
  const parts: (string | JSX.Element)[] = ["Rule: "];
  const re = /((?:ALARM|OK|INSUFFICIENT_DATA)\(\s*"?)([^")]+?)("?\s*\))/g;
  let last = 0;
  for (let m = re.exec(rule); m; m = re.exec(rule)) {
    parts.push(rule.slice(last, m.index) + m[1]);
    const name = /:alarm:(.+)$/.exec(m[2])?.[1] ?? m[2];
    parts.push(
      <a key={m.index} href={`/alarms/${encodeURIComponent(name)}`}>
        {m[2]}
      </a>,
    );
    parts.push(m[3]);
    last = m.index + m[0].length;
  }
  parts.push(rule.slice(last));
  return <>{parts}</>;
}

/** The alarm's metric in the explorer (its first MetricStat for math alarms). */
function explorerLink(d: Record<string, any>, range: Range): string | null {
  let row: any[] | null = null;
  if (d.MetricName) {
    row = [d.Namespace, d.MetricName, ...(d.Dimensions ?? []).flatMap((x: any) => [x.Name, x.Value])];
    row.push({ id: "m1", stat: d.Statistic ?? d.ExtendedStatistic, period: d.Period });
  } else {
    const q = (d.Metrics ?? []).find((x: any) => x.MetricStat);
    if (!q) return null;
    const m = q.MetricStat.Metric;
    row = [m.Namespace, m.MetricName, ...(m.Dimensions ?? []).flatMap((x: any) => [x.Name, x.Value])];
    row.push({ id: q.Id, stat: q.MetricStat.Stat, period: q.MetricStat.Period });
  }
  const q = new URLSearchParams({ q: JSON.stringify([row]), from: range.from, to: range.to });
  return `/metrics?${q}`;
}

export function AlarmView({ name, query }: { name: string; query: URLSearchParams }) {
  const range: Range = { from: query.get("from") ?? "now-1w", to: query.get("to") ?? "now" };
  const tz = query.get("tz") ?? "local";
  const dialog = query.get("dialog");
  const historyType = query.get("history");
  const point = query.get("point");
  const [detail, setDetail] = useState<{ alarm?: AlarmDetail; error?: ApiError | Error }>({});
  const [bt, setBt] = useState<{ data?: Backtest; error?: string }>({});
  const [real, setReal] = useState<AnnotatedAlarm[]>([]);
  const [history, setHistory] = useState<HistoryItem[] | null>(null);
  const [tick, setTick] = useState(0);
  const set = (changes: Record<string, string | null>) => navigate(withParams(changes));
  const tracks = useMemo(() => real.map(toTrack), [real]);

  const { startMs, endMs } = useMemo(() => {
    const now = Date.now();
    let a = now - 7 * 86400_000;
    let b = now;
    try {
      a = resolve(range.from, now);
      b = resolve(range.to, now);
    } catch {
      /* the default week */
    }
    return { startMs: Math.max(a, b - MAX_RANGE_MS), endMs: b };
  }, [range.from, range.to, tick]);

  useEffect(() => {
    const ac = new AbortController();
    api<AlarmDetail>(alarmPath(name), { signal: ac.signal })
      .then((a) => setDetail({ alarm: a }))
      .catch((e) => !isAbort(e) && setDetail({ error: e }));
    return () => ac.abort();
  }, [name, tick]);

  const isMetric = detail.alarm?.kind === "MetricAlarm";
  useEffect(() => {
    if (!isMetric) return;
    const ac = new AbortController();
    setBt({});
    api<Backtest>(`${alarmPath(name)}/backtest?start=${Math.floor(startMs)}&end=${Math.floor(endMs)}`, { signal: ac.signal })
      .then((data) => setBt({ data }))
      .catch((e) => !isAbort(e) && setBt({ error: e.message }));
    api<{ alarms: AnnotatedAlarm[] }>("/api/v1/alarm-annotations", {
      method: "POST",
      body: { start: startMs, end: endMs, alarms: [name] },
      signal: ac.signal,
    })
      .then((r) => setReal(r.alarms))
      .catch(() => setReal([]));
    return () => ac.abort();
  }, [name, isMetric, startMs, endMs, detail.alarm?.configuration_updated_ms]);

  useEffect(() => {
    const ac = new AbortController();
    const q = historyType ? `?type=${historyType}` : "";
    api<{ items: HistoryItem[] }>(`${alarmPath(name)}/history${q}`, { signal: ac.signal })
      .then((r) => setHistory(r.items))
      .catch((e) => !isAbort(e) && setHistory([]));
    return () => ac.abort();
  }, [name, historyType, tick]);

  if (detail.error) {
    const missing = detail.error instanceof ApiError && detail.error.status === 404;
    return (
      <div class="page-message" role="alert">
        <h1>{missing ? "Alarm not found" : "The alarm could not be loaded"}</h1>
        <p>{missing ? <>There is no alarm named <strong>{name}</strong>.</> : detail.error.message}</p>
        <p>
          <a href="/alarms">See all alarms</a>
        </p>
      </div>
    );
  }
  const a = detail.alarm;
  if (!a) return <div class="page-message">Loading alarm…</div>;
  const d = a.definition;
  const link = isMetric ? explorerLink(d, range) : null;
  const around = (ms: number) => `start=${ms - 5 * 60_000}&end=${ms + 5 * 60_000}`;
  const remove = async () => {
    if (!confirm(`Delete the alarm ${name}?`)) return;
    await api(alarmPath(name), { method: "DELETE" });
    navigate("/alarms");
  };
  return (
    <div class="page alarm-page">
      <div class="toolbar">
        <h1>{name}</h1>
        <StateBadge state={a.state} />
        <button type="button" onClick={() => set({ dialog: "edit" })}>
          Edit
        </button>
        <button type="button" onClick={() => void remove()}>
          Delete
        </button>
        {link ? <a href={link}>Open in metrics explorer</a> : null}
        <a href={`/logs?${around(a.transitioned_ms)}`}>Logs around the last change</a>
        <a href={`/traces?${around(a.transitioned_ms)}`}>Traces around the last change</a>
        <a href={`/incidents?alarm=${encodeURIComponent(name)}`}>Incidents</a>
      </div>
      <p class="alarm-reason" data-testid="alarm-reason">
        {a.reason}
      </p>
      <p class="muted">
        {a.kind === "CompositeAlarm" ? <RuleText rule={d.AlarmRule} /> : condition(d)}
        {d.AlarmDescription ? ` — ${d.AlarmDescription}` : ""}
      </p>
      {isMetric ? (
        <section class="widget" aria-label="Alarm graph">
          <header class="widget-header">
            <h2 class="widget-title">Metric, state changes and backtest</h2>
            <TimePicker
              range={range}
              tz={tz}
              refresh="off"
              onRange={(r) => set({ from: r.from, to: r.to })}
              onTz={(t) => set({ tz: t === "local" ? null : t })}
              onRefresh={() => undefined}
              onReload={() => setTick((x) => x + 1)}
            />
          </header>
          <div class="widget-body">
            {bt.error ? (
              <div class="widget-error" role="alert">
                {bt.error}
              </div>
            ) : bt.data ? (
              <>
                <p data-testid="backtest-summary">{summary(bt.data)}</p>
                <BacktestChart
                  label={d.MetricName ?? "value"}
                  backtest={bt.data}
                  tracks={tracks}
                  tz={tz}
                  onZoom={(x, y) => set({ from: String(x), to: String(y) })}
                  onPoint={(t) => set({ point: String(t) })}
                />
                <p class="legend-note muted">
                  Solid lines: state changes the alarm made. Dashed: changes its definition would have made over
                  this range, replayed from stored data.
                </p>
              </>
            ) : (
              <p class="muted">Replaying the definition over the range…</p>
            )}
          </div>
        </section>
      ) : null}
      {bt.data?.changes.length ? (
        <section aria-label="Backtest changes">
          <h2>Would-be state changes</h2>
          <table class="data-table">
            <thead>
              <tr>
                <th>Time</th>
                <th>Change</th>
                <th>Reason</th>
              </tr>
            </thead>
            <tbody>
              {bt.data.changes.map((c) => (
                <tr key={c.time}>
                  <td>{formatTime(c.time * 1000, tz)}</td>
                  <td>
                    {c.old} → <StateBadge state={c.new} />
                  </td>
                  <td class="reason">{c.reason}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </section>
      ) : null}
      <section aria-label="History">
        <h2>History</h2>
        <label class="inline">
          Show
          <select value={historyType ?? ""} onChange={(e) => set({ history: (e.target as HTMLSelectElement).value || null })}>
            <option value="">Everything</option>
            <option value="StateUpdate">State updates</option>
            <option value="ConfigurationUpdate">Configuration updates</option>
            <option value="Action">Actions</option>
          </select>
        </label>
        {history === null ? (
          <p class="muted">Loading history…</p>
        ) : history.length === 0 ? (
          <p class="muted">No history items.</p>
        ) : (
          <table class="data-table history-table">
            <thead>
              <tr>
                <th>Time</th>
                <th>Type</th>
                <th>Summary</th>
              </tr>
            </thead>
            <tbody>
              {history.map((h, i) => (
                <tr key={i}>
                  <td>{formatTime(h.time_ms, tz)}</td>
                  <td>{h.type}</td>
                  <td>
                    {h.summary}
                    {h.type === "StateUpdate" && h.data.newState?.stateReason ? (
                      <div class="reason muted">{h.data.newState.stateReason}</div>
                    ) : null}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </section>
      <details class="definition">
        <summary>Definition (PutMetricAlarm parameters)</summary>
        <pre>{JSON.stringify(d, null, 2)}</pre>
      </details>
      {dialog === "edit" && a.kind === "MetricAlarm" ? (
        <AlarmForm
          existing={d}
          metric={null}
          tz={tz}
          onClose={() => set({ dialog: null })}
          onSaved={() => {
            set({ dialog: null });
            setTick((x) => x + 1);
          }}
        />
      ) : null}
      {dialog === "edit" && a.kind !== "MetricAlarm" ? (
        <div class="dialog" role="dialog" aria-label="Edit alarm">
          <p>Composite alarms are edited with PutCompositeAlarm (boto3, the AWS CLI).</p>
          <button type="button" onClick={() => set({ dialog: null })}>
            Close
          </button>
        </div>
      ) : null}
      {point ? <PointPanel timeMs={Number(point)} tz={tz} onClose={() => set({ point: null })} /> : null}
    </div>
  );
}
