// The fields of the results (and of the groups, from GetLogGroupFields): how often each is
// present, its top values among the loaded rows, and one click to filter by a value.
import { useMemo, useState } from "preact/hooks";

type Row = Record<string, string>;

export function topValues(rows: Row[], field: string, n = 5): { value: string; count: number }[] {
  const counts = new Map<string, number>();
  for (const r of rows) {
    const v = r[field];
    if (v === undefined) continue;
    counts.set(v, (counts.get(v) ?? 0) + 1);
  }
  return [...counts.entries()]
    .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))
    .slice(0, n)
    .map(([value, count]) => ({ value, count }));
}

export function FieldSidebar({
  rows,
  fields,
  discovered,
  onFilter,
}: {
  rows: Row[];
  fields: string[];
  discovered: { name: string; percent: number }[];
  onFilter: (field: string, value: string, negate: boolean) => void;
}) {
  const [openField, setOpenField] = useState<string | null>(null);
  const present = useMemo(() => {
    const m = new Map<string, number>();
    for (const r of rows) for (const k in r) m.set(k, (m.get(k) ?? 0) + 1);
    return m;
  }, [rows]);
  const names = [...new Set([...fields, ...discovered.map((d) => d.name)])].filter((f) => f !== "@ptr");
  const percentOf = (f: string) =>
    rows.length ? Math.round((100 * (present.get(f) ?? 0)) / rows.length) : discovered.find((d) => d.name === f)?.percent ?? 0;
  return (
    <aside class="field-sidebar" aria-label="Fields">
      <h2>Fields</h2>
      {names.length === 0 ? <p class="muted">Run a query to see its fields.</p> : null}
      <ul>
        {names.map((f) => (
          <li key={f}>
            <button
              type="button"
              class="field-name"
              aria-expanded={openField === f}
              onClick={() => setOpenField(openField === f ? null : f)}
            >
              <span>{f}</span>
              <span class="muted">{percentOf(f)}%</span>
            </button>
            {openField === f ? (
              <div class="top-values" role="region" aria-label={`Top values of ${f}`}>
                {rows.length === 0 ? (
                  <p class="muted">No rows loaded.</p>
                ) : (
                  <>
                    <p class="muted">Top values in {rows.length.toLocaleString()} rows</p>
                    <ul>
                      {topValues(rows, f).map(({ value, count }) => (
                        <li key={value}>
                          <span class="value" title={value}>
                            {value === "" ? <em>(empty)</em> : value}
                          </span>
                          <span class="muted">{count}</span>
                          <button type="button" class="icon" aria-label={`Filter ${f} = ${value}`} title="Only this value" onClick={() => onFilter(f, value, false)}>
                            ⊕
                          </button>
                          <button type="button" class="icon" aria-label={`Filter ${f} != ${value}`} title="Exclude this value" onClick={() => onFilter(f, value, true)}>
                            ⊖
                          </button>
                        </li>
                      ))}
                    </ul>
                  </>
                )}
              </div>
            ) : null}
          </li>
        ))}
      </ul>
    </aside>
  );
}
