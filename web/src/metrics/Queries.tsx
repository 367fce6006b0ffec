// The graphed metrics: one row per query (a metric, a math expression, a SEARCH or an
// anomaly band), each with its statistic, period, label, axis and visibility; math
// expressions are added by id (m1 + m2, SEARCH(…), ANOMALY_DETECTION_BAND(m1, 2)).
import { useState } from "preact/hooks";
import { describeRow, isBand, isMetric, nextId, PERIODS, Row, STATISTICS } from "./rows";

interface Props {
  rows: Row[];
  defaultStat: string;
  onChange: (rows: Row[]) => void;
  onCreateAlarm: (row: Row) => void;
  errors?: string;
}

export function Queries({ rows, defaultStat, onChange, onCreateAlarm, errors }: Props) {
  const [expr, setExpr] = useState("");
  const update = (i: number, change: Partial<Row>) => onChange(rows.map((r, j) => (j === i ? { ...r, ...change } : r)));
  const remove = (i: number) => onChange(rows.filter((_, j) => j !== i));
  const bandOf = (r: Row) => rows.find((b) => isBand(b) && new RegExp(`\\(\\s*${r.id}\\b`).test(b.expression ?? ""));
  const toggleBand = (r: Row) => {
    const band = bandOf(r);
    if (band) onChange(rows.filter((x) => x !== band));
    else
      onChange([
        ...rows,
        {
          id: nextId(rows, "ad"),
          expression: `ANOMALY_DETECTION_BAND(${r.id}, 2)`,
          label: `${r.label ?? r.name ?? r.id} (expected)`,
        },
      ]);
  };
  return (
    <section class="queries" aria-label="Graphed metrics">
      {errors ? (
        <div class="widget-error" role="alert">
          <strong>Error:</strong> {errors}
        </div>
      ) : null}
      <table class="data-table">
        <thead>
          <tr>
            <th>Shown</th>
            <th>Id</th>
            <th>Label</th>
            <th>Details</th>
            <th>Statistic</th>
            <th>Period</th>
            <th>Y axis</th>
            <th>Actions</th>
          </tr>
        </thead>
        <tbody>
          {rows.map((r, i) => (
            <tr key={r.id} data-query={r.id}>
              <td>
                <input
                  type="checkbox"
                  aria-label={`Show ${r.id}`}
                  checked={r.visible !== false}
                  onChange={(e) => update(i, { visible: (e.target as HTMLInputElement).checked ? undefined : false })}
                />
              </td>
              <td>
                <code>{r.id}</code>
              </td>
              <td>
                <input
                  class="label-input"
                  aria-label={`Label of ${r.id}`}
                  value={r.label ?? ""}
                  placeholder={isMetric(r) ? r.name : r.id}
                  onChange={(e) => update(i, { label: (e.target as HTMLInputElement).value || undefined })}
                />
              </td>
              <td class="details">
                {isMetric(r) ? (
                  describeRow(r)
                ) : (
                  <input
                    class="expr-input"
                    aria-label={`Expression of ${r.id}`}
                    value={r.expression}
                    onChange={(e) => update(i, { expression: (e.target as HTMLInputElement).value })}
                  />
                )}
              </td>
              <td>
                {isMetric(r) ? (
                  <select
                    aria-label={`Statistic of ${r.id}`}
                    value={r.stat ?? defaultStat}
                    onChange={(e) => update(i, { stat: (e.target as HTMLSelectElement).value })}
                  >
                    {[...new Set([r.stat ?? defaultStat, ...STATISTICS])].map((s) => (
                      <option key={s}>{s}</option>
                    ))}
                  </select>
                ) : null}
              </td>
              <td>
                {isMetric(r) ? (
                  <select
                    aria-label={`Period of ${r.id}`}
                    value={r.period ? String(r.period) : "auto"}
                    onChange={(e) => {
                      const v = (e.target as HTMLSelectElement).value;
                      update(i, { period: v === "auto" ? undefined : Number(v) });
                    }}
                  >
                    {PERIODS.map(([v, label]) => (
                      <option key={v} value={v}>
                        {label}
                      </option>
                    ))}
                  </select>
                ) : null}
              </td>
              <td>
                <button
                  type="button"
                  class="small"
                  aria-label={`Y axis of ${r.id}: ${r.yAxis === "right" ? "right" : "left"}`}
                  onClick={() => update(i, { yAxis: r.yAxis === "right" ? undefined : "right" })}
                >
                  {r.yAxis === "right" ? "Right" : "Left"}
                </button>
              </td>
              <td class="row-actions">
                {isMetric(r) ? (
                  <>
                    <button type="button" class="small" aria-pressed={!!bandOf(r)} onClick={() => toggleBand(r)}>
                      Anomaly band
                    </button>
                    <button type="button" class="small" onClick={() => onCreateAlarm(r)} aria-label={`Create alarm on ${r.id}`}>
                      Create alarm
                    </button>
                  </>
                ) : null}
                <button type="button" class="small" aria-label={`Remove ${r.id}`} onClick={() => remove(i)}>
                  ✕
                </button>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      <form
        class="add-expression"
        onSubmit={(e) => {
          e.preventDefault();
          const text = expr.trim();
          if (!text) return;
          const prefix = /^SEARCH\s*\(/i.test(text) ? "s" : "e";
          onChange([...rows, { id: nextId(rows, prefix), expression: text }]);
          setExpr("");
        }}
      >
        <input
          aria-label="Math expression"
          placeholder="Math expression: m1 + m2, RATE(m1), SEARCH('{AWS/EC2,InstanceId} CPUUtilization', 'Average', 300)"
          value={expr}
          onInput={(e) => setExpr((e.target as HTMLInputElement).value)}
        />
        <button type="submit">Add expression</button>
      </form>
    </section>
  );
}
