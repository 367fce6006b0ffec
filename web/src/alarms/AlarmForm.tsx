// Create or edit a metric alarm: a static threshold or an anomaly band on one metric
// (the form), anything PutMetricAlarm takes (the JSON), a backtest of the definition as
// it stands before saving ("what would it have done over the last 7 days").
import { useMemo, useState } from "preact/hooks";
import { api, ApiError } from "../api";
import { navigate } from "../router";
import { alarmPath, Backtest } from "./api";
import { BacktestChart, summary } from "./BacktestChart";

export interface MetricChoice {
  namespace: string;
  name: string;
  dims: [string, string][];
  stat: string;
  period: number;
}

const COMPARISONS: [string, string][] = [
  ["GreaterThanThreshold", ">"],
  ["GreaterThanOrEqualToThreshold", "≥"],
  ["LessThanThreshold", "<"],
  ["LessThanOrEqualToThreshold", "≤"],
];
const BAND_COMPARISONS: [string, string][] = [
  ["LessThanLowerOrGreaterThanUpperThreshold", "outside the band"],
  ["GreaterThanUpperThreshold", "above the band"],
  ["LessThanLowerThreshold", "below the band"],
];
const TREAT = ["missing", "notBreaching", "breaching", "ignore"];

interface FormState {
  name: string;
  description: string;
  kind: "static" | "band";
  comparison: string;
  threshold: string;
  width: string;
  evaluationPeriods: string;
  datapoints: string;
  treat: string;
  actions: string;
  okActions: string;
}

/** The form's state from a stored definition (or a metric to start from). */
function initial(def: Record<string, any> | null): FormState {
  const band = !!def?.ThresholdMetricId;
  const bandExpr: string = band ? def!.Metrics.find((m: any) => m.Id === def!.ThresholdMetricId)?.Expression ?? "" : "";
  const width = /,\s*([\d.]+)\s*\)/.exec(bandExpr)?.[1] ?? "2";
  return {
    name: def?.AlarmName ?? "",
    description: def?.AlarmDescription ?? "",
    kind: band ? "band" : "static",
    comparison: def?.ComparisonOperator ?? "GreaterThanThreshold",
    threshold: def?.Threshold !== undefined ? String(def.Threshold) : "",
    width,
    evaluationPeriods: String(def?.EvaluationPeriods ?? 1),
    datapoints: String(def?.DatapointsToAlarm ?? def?.EvaluationPeriods ?? 1),
    treat: def?.TreatMissingData ?? "missing",
    actions: (def?.AlarmActions ?? []).join(", "),
    okActions: (def?.OKActions ?? []).join(", "),
  };
}

function metricOf(def: Record<string, any> | null, metric: MetricChoice | null): MetricChoice | null {
  if (metric) return metric;
  if (!def) return null;
  if (def.MetricName)
    return {
      namespace: def.Namespace,
      name: def.MetricName,
      dims: (def.Dimensions ?? []).map((d: any) => [d.Name, d.Value]),
      stat: def.Statistic ?? def.ExtendedStatistic ?? "Average",
      period: def.Period ?? 300,
    };
  const m = (def.Metrics ?? []).find((q: any) => q.MetricStat);
  if (!m) return null;
  const ms = m.MetricStat;
  return {
    namespace: ms.Metric.Namespace,
    name: ms.Metric.MetricName,
    dims: (ms.Metric.Dimensions ?? []).map((d: any) => [d.Name, d.Value]),
    stat: ms.Stat,
    period: ms.Period,
  };
}

function arns(text: string): string[] {
  return text
    .split(/[\s,]+/)
    .map((s) => s.trim())
    .filter(Boolean);
}

export function buildDefinition(f: FormState, m: MetricChoice): Record<string, any> {
  const dimensions = m.dims.map(([Name, Value]) => ({ Name, Value }));
  const common: Record<string, any> = {
    EvaluationPeriods: Number(f.evaluationPeriods),
    DatapointsToAlarm: Number(f.datapoints),
    ComparisonOperator: f.comparison,
    TreatMissingData: f.treat,
    AlarmActions: arns(f.actions),
    OKActions: arns(f.okActions),
  };
  if (f.description) common.AlarmDescription = f.description;
  if (f.kind === "band")
    return {
      ...common,
      ThresholdMetricId: "ad1",
      Metrics: [
        {
          Id: "m1",
          MetricStat: { Metric: { Namespace: m.namespace, MetricName: m.name, Dimensions: dimensions }, Period: m.period, Stat: m.stat },
          ReturnData: true,
        },
        { Id: "ad1", Expression: `ANOMALY_DETECTION_BAND(m1, ${Number(f.width) || 2})`, Label: `${m.name} (expected)`, ReturnData: true },
      ],
    };
  const stat = /^(SampleCount|Average|Sum|Minimum|Maximum)$/.test(m.stat) ? { Statistic: m.stat } : { ExtendedStatistic: m.stat };
  return {
    ...common,
    Namespace: m.namespace,
    MetricName: m.name,
    Dimensions: dimensions,
    Period: m.period,
    ...stat,
    Threshold: Number(f.threshold),
  };
}

interface Props {
  existing: Record<string, any> | null; // the stored definition when editing
  metric: MetricChoice | null; // the graph's metric when creating from a graph
  tz: string;
  onClose: () => void;
  onSaved?: (name: string) => void;
}

export function AlarmForm({ existing, metric, tz, onClose, onSaved }: Props) {
  const [f, setF] = useState<FormState>(() => initial(existing));
  const m = useMemo(() => metricOf(existing, metric), [existing, metric]);
  const simple = m !== null && (!existing || existing.MetricName || existing.ThresholdMetricId);
  const [json, setJson] = useState<string | null>(simple ? null : JSON.stringify(existing ?? {}, null, 2));
  const [preview, setPreview] = useState<{ bt?: Backtest; error?: string; busy?: boolean }>({});
  const [error, setError] = useState<string | null>(null);
  const set = (k: keyof FormState) => (e: Event) => setF({ ...f, [k]: (e.target as HTMLInputElement).value });
  const definition = (): Record<string, any> => {
    if (json !== null) return JSON.parse(json);
    return buildDefinition(f, m!);
  };
  const check = (): string | null => {
    if (!existing && !/^[\w .:\-/#]{1,255}$/.test(f.name)) return "Name the alarm (letters, digits, spaces, - _ . : / #).";
    if (json === null && f.kind === "static" && (f.threshold.trim() === "" || Number.isNaN(Number(f.threshold))))
      return "The threshold must be a number.";
    return null;
  };
  const runPreview = async () => {
    setPreview({ busy: true });
    try {
      const bt = await api<Backtest>("/api/v1/alarm-backtest", { method: "POST", body: definition() });
      setPreview({ bt });
    } catch (e) {
      setPreview({ error: e instanceof Error ? e.message : String(e) });
    }
  };
  const save = async () => {
    const problem = check();
    if (problem) {
      setError(problem);
      return;
    }
    const name = existing?.AlarmName ?? f.name.trim();
    try {
      const def = definition();
      delete def.AlarmArn;
      await api(alarmPath(name), { method: "PUT", body: def });
      if (onSaved) onSaved(name);
      else navigate(`/alarms/${encodeURIComponent(name)}`);
    } catch (e) {
      setError(e instanceof ApiError ? `${e.code}: ${e.message}` : String(e));
    }
  };
  const comparisons = f.kind === "band" ? BAND_COMPARISONS : COMPARISONS;
  return (
    <div class="dialog alarm-form" role="dialog" aria-label={existing ? "Edit alarm" : "Create alarm"}>
      <h2>{existing ? `Edit alarm ${existing.AlarmName}` : "Create alarm"}</h2>
      <form
        onSubmit={(e) => {
          e.preventDefault();
          void save();
        }}
      >
        {!existing ? (
          <label>
            Alarm name
            <input required value={f.name} onInput={set("name")} />
          </label>
        ) : null}
        {json === null && m ? (
          <>
            <p class="muted">
              {m.stat} of {m.namespace} · {m.name}
              {m.dims.length ? ` (${m.dims.map(([k, v]) => `${k}=${v}`).join(", ")})` : ""} per {m.period} s
            </p>
            <label>
              Description
              <input value={f.description} onInput={set("description")} />
            </label>
            <fieldset class="inline-fields">
              <legend>Condition</legend>
              <label class="inline">
                <input
                  type="radio"
                  name="kind"
                  checked={f.kind === "static"}
                  onChange={() => setF({ ...f, kind: "static", comparison: "GreaterThanThreshold" })}
                />{" "}
                Static threshold
              </label>
              <label class="inline">
                <input
                  type="radio"
                  name="kind"
                  checked={f.kind === "band"}
                  onChange={() => setF({ ...f, kind: "band", comparison: BAND_COMPARISONS[0][0] })}
                />{" "}
                Anomaly detection
              </label>
            </fieldset>
            <div class="inline-fields">
              <label>
                Whenever the metric is
                <select value={f.comparison} onChange={set("comparison")} aria-label="Comparison">
                  {comparisons.map(([v, text]) => (
                    <option key={v} value={v}>
                      {text}
                    </option>
                  ))}
                </select>
              </label>
              {f.kind === "static" ? (
                <label>
                  Threshold
                  <input inputMode="decimal" value={f.threshold} onInput={set("threshold")} />
                </label>
              ) : (
                <label>
                  Band width (standard deviations)
                  <input inputMode="decimal" value={f.width} onInput={set("width")} />
                </label>
              )}
            </div>
            <div class="inline-fields">
              <label>
                Datapoints to alarm
                <input type="number" min="1" value={f.datapoints} onInput={set("datapoints")} />
              </label>
              <label>
                out of (evaluation periods)
                <input type="number" min="1" value={f.evaluationPeriods} onInput={set("evaluationPeriods")} />
              </label>
              <label>
                Missing data
                <select value={f.treat} onChange={set("treat")}>
                  {TREAT.map((t) => (
                    <option key={t}>{t}</option>
                  ))}
                </select>
              </label>
            </div>
            <label>
              In ALARM notify (SNS topic ARNs)
              <input value={f.actions} onInput={set("actions")} placeholder="arn:aws:sns:us-east-1:000000000000:oncall" />
            </label>
            <label>
              Back to OK notify
              <input value={f.okActions} onInput={set("okActions")} />
            </label>
          </>
        ) : (
          <label>
            PutMetricAlarm parameters (JSON)
            <textarea rows={14} class="json-text" value={json ?? ""} onInput={(e) => setJson((e.target as HTMLTextAreaElement).value)} />
          </label>
        )}
        {error ? (
          <div class="widget-error" role="alert">
            {error}
          </div>
        ) : null}
        <div class="buttons">
          <button type="submit">{existing ? "Save alarm" : "Create alarm"}</button>
          <button type="button" onClick={() => void runPreview()} disabled={preview.busy}>
            Backtest last 7 days
          </button>
          {m && json === null ? (
            <button type="button" onClick={() => setJson(JSON.stringify(definition(), null, 2))}>
              Edit as JSON
            </button>
          ) : null}
          <button type="button" onClick={onClose}>
            Cancel
          </button>
        </div>
      </form>
      {preview.busy ? <p class="muted">Replaying the definition over the last 7 days…</p> : null}
      {preview.error ? (
        <div class="widget-error" role="alert">
          {preview.error}
        </div>
      ) : null}
      {preview.bt ? (
        <section class="backtest-preview" aria-label="Backtest preview">
          <p data-testid="backtest-summary">{summary(preview.bt)}</p>
          <BacktestChart label={m?.name ?? "value"} backtest={preview.bt} tracks={[]} tz={tz} height={200} />
        </section>
      ) : null}
    </div>
  );
}
