// The fields of the results (and of the groups, from GetLogGroupFields): how often each is
// present, its top values, and one click to filter by a value. The top values are counted
// by the server over every event the query matches (``top``), not only the loaded rows;
// for an aggregating query (its rows are the answer) they are the rows' own.
import { useEffect, useMemo, useState } from "preact/hooks";
import { isAbort } from "../api";
import { plural } from "../text";

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

export type TopValues = { value: string; count: number }[];

type Top = { field: string; values?: TopValues; error?: string };

export function FieldSidebar({
  rows,
  fields,
  discovered,
  onFilter,
  top,
  matched,
}: {
  rows: Row[];
  fields: string[];
  discovered: { name: string; percent: number }[];
  onFilter: (field: string, value: string, negate: boolean) => void;
  /** The top values of a field over all matching events (a query on the server). */
  top?: (field: string, signal: AbortSignal) => Promise<TopValues>;
  /** How many events the query matches (its statistics), once known. */
  matched?: number;
}) {
  const [openField, setOpenField] = useState<string | null>(null);
  const [served, setServed] = useState<Top | null>(null);
  useEffect(() => {
    setServed(null);
    if (!openField || !top) return;
    const ac = new AbortController();
    const field = openField;
    top(field, ac.signal)
      .then((values) => setServed({ field, values }))
      .catch((e) => !isAbort(e) && setServed({ field, error: (e as Error).message }));
    return () => ac.abort();
  }, [openField, top]);
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
                {top ? (
                  <ServedTop field={f} served={served?.field === f ? served : null} matched={matched} onFilter={onFilter} />
                ) : rows.length === 0 ? (
                  <p class="muted">No rows loaded.</p>
                ) : (
                  <>
                    <p class="muted">Top values in {plural(rows.length, "row")}</p>
                    <ValueList field={f} values={topValues(rows, f)} onFilter={onFilter} />
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


function ServedTop({
  field,
  served,
  matched,
  onFilter,
}: {
  field: string;
  served: Top | null;
  matched?: number;
  onFilter: (field: string, value: string, negate: boolean) => void;
}) {
  if (!served) return <p class="muted">Counting the values of {field}…</p>;
  if (served.error) return <p class="muted">The top values could not be counted: {served.error}</p>;
  const values = served.values ?? [];
  if (!values.length) return <p class="muted">No matching event has {field}.</p>;
  return (
    <>
      <p class="muted">
        Top {values.length} of {matched === undefined ? "all matching events" : plural(matched, "event")}
      </p>
      <ValueList field={field} values={values} onFilter={onFilter} />
    </>
  );
}

function ValueList({
  field: f,
  values,
  onFilter,
}: {
  field: string;
  values: TopValues;
  onFilter: (field: string, value: string, negate: boolean) => void;
}) {
  return (
    <ul>
      {values.map(({ value, count }) => (
        <li key={value}>
          <span class="value" title={value}>
            {value === "" ? <em>(empty)</em> : value}
          </span>
          <span class="muted">{count.toLocaleString()}</span>
          <button type="button" class="icon" aria-label={`Filter ${f} = ${value}`} title="Only this value" onClick={() => onFilter(f, value, false)}>
            ⊕
          </button>
          <button type="button" class="icon" aria-label={`Filter ${f} != ${value}`} title="Exclude this value" onClick={() => onFilter(f, value, true)}>
            ⊖
          </button>
        </li>
      ))}
    </ul>
  );
}
