// Namespace → metric → dimensions, as the CloudWatch console browses metrics (ListMetrics
// over /api/v1/metrics/series), with a search over names and dimension values. Where the
// browser stands (namespace, metric, search text) is in the URL.
import { useEffect, useMemo, useState } from "preact/hooks";
import { api, isAbort } from "../api";

export interface SeriesInfo {
  namespace: string;
  name: string;
  dimensions: Record<string, string>;
  units: string[];
  last_seen: string;
  points: number;
}

const PAGE = 10_000;

/** Every series of a namespace (or of all namespaces), a few pages at most. */
export function useSeries(namespace: string | null): { series: SeriesInfo[] | null; error?: string; partial: boolean } {
  const [state, setState] = useState<{ series: SeriesInfo[] | null; error?: string; partial: boolean }>({
    series: null,
    partial: false,
  });
  useEffect(() => {
    const ac = new AbortController();
    setState({ series: null, partial: false });
    (async () => {
      const out: SeriesInfo[] = [];
      let cursor: string | null = null;
      for (let page = 0; page < 3; page++) {
        const q = new URLSearchParams({ limit: String(PAGE) });
        if (namespace) q.set("namespace", namespace);
        if (cursor) q.set("cursor", cursor);
        const r: { series: SeriesInfo[]; next_cursor: string | null } = await api(`/api/v1/metrics/series?${q}`, {
          signal: ac.signal,
        });
        out.push(...r.series);
        cursor = r.next_cursor;
        if (!cursor) break;
      }
      setState({ series: out, partial: cursor !== null });
    })().catch((e) => {
      if (!isAbort(e)) setState({ series: null, error: e.message, partial: false });
    });
    return () => ac.abort();
  }, [namespace]);
  return state;
}

export function dimsText(d: Record<string, string>): string {
  const keys = Object.keys(d).sort();
  return keys.length ? keys.map((k) => `${k}=${d[k]}`).join(", ") : "(no dimensions)";
}

function matches(s: SeriesInfo, words: string[]): boolean {
  const hay = [s.namespace, s.name, ...Object.keys(s.dimensions), ...Object.values(s.dimensions)].join(" ").toLowerCase();
  return words.every((w) => hay.includes(w));
}

interface Props {
  namespace: string | null;
  metric: string | null;
  search: string;
  onNavigate: (changes: { ns?: string | null; metric?: string | null; search?: string | null }) => void;
  isGraphed: (s: SeriesInfo) => boolean;
  onToggle: (s: SeriesInfo, on: boolean) => void;
  onSearchAll: (namespace: string, metric: string, dimKeys: string[]) => void;
}

export function Browser({ namespace, metric, search, onNavigate, isGraphed, onToggle, onSearchAll }: Props) {
  const all = useSeries(namespace);
  const [text, setText] = useState(search);
  useEffect(() => setText(search), [search]);
  const words = search.toLowerCase().split(/\s+/).filter(Boolean);
  const series = all.series;

  const namespaces = useMemo(() => {
    if (!series || namespace) return [];
    const counts = new Map<string, number>();
    for (const s of series) if (matches(s, words)) counts.set(s.namespace, (counts.get(s.namespace) ?? 0) + 1);
    return [...counts.entries()].sort((a, b) => a[0].localeCompare(b[0]));
  }, [series, namespace, search]);

  const metrics = useMemo(() => {
    if (!series || !namespace || metric) return [];
    const counts = new Map<string, number>();
    for (const s of series) if (s.namespace === namespace && matches(s, words)) counts.set(s.name, (counts.get(s.name) ?? 0) + 1);
    return [...counts.entries()].sort((a, b) => a[0].localeCompare(b[0]));
  }, [series, namespace, metric, search]);

  const shown = useMemo(() => {
    if (!series) return [];
    // A search without a namespace lists matching series directly (the console's search).
    if (!namespace && !words.length) return [];
    return series
      .filter((s) => (!namespace || s.namespace === namespace) && (!metric || s.name === metric) && matches(s, words))
      .slice(0, 500);
  }, [series, namespace, metric, search]);

  const dimKeys = useMemo(() => {
    const keys = new Set<string>();
    for (const s of shown) for (const k of Object.keys(s.dimensions)) keys.add(k);
    return [...keys].sort();
  }, [shown]);

  return (
    <aside class="metric-browser" aria-label="Browse metrics">
      <form
        class="browser-search"
        onSubmit={(e) => {
          e.preventDefault();
          onNavigate({ search: text.trim() || null });
        }}
      >
        <input
          type="search"
          placeholder="Search metrics, dimensions…"
          aria-label="Search metrics"
          value={text}
          onInput={(e) => setText((e.target as HTMLInputElement).value)}
        />
        <button type="submit">Search</button>
      </form>
      <nav class="crumbs" aria-label="Metric path">
        <a
          href="#"
          onClick={(e) => {
            e.preventDefault();
            onNavigate({ ns: null, metric: null });
          }}
        >
          All namespaces
        </a>
        {namespace ? (
          <>
            {" › "}
            <a
              href="#"
              onClick={(e) => {
                e.preventDefault();
                onNavigate({ metric: null });
              }}
            >
              {namespace}
            </a>
          </>
        ) : null}
        {metric ? <> › <span>{metric}</span></> : null}
      </nav>
      {all.error ? <div class="widget-error" role="alert">{all.error}</div> : null}
      {!series && !all.error ? <p class="muted">Loading metrics…</p> : null}
      {series && series.length === 0 ? (
        <p class="muted">No metrics yet. Send some with PutMetricData or OpenTelemetry.</p>
      ) : null}
      {all.partial ? <p class="muted">Showing the first {series?.length.toLocaleString()} series; search to narrow.</p> : null}
      {namespaces.length ? (
        <ul class="browse-list" aria-label="Namespaces">
          {namespaces.map(([ns, n]) => (
            <li key={ns}>
              <button type="button" class="link" onClick={() => onNavigate({ ns, metric: null })}>
                {ns}
              </button>
              <span class="count">{n}</span>
            </li>
          ))}
        </ul>
      ) : null}
      {metrics.length ? (
        <ul class="browse-list" aria-label="Metrics">
          {metrics.map(([name, n]) => (
            <li key={name}>
              <button type="button" class="link" onClick={() => onNavigate({ metric: name })}>
                {name}
              </button>
              <span class="count">{n}</span>
            </li>
          ))}
        </ul>
      ) : null}
      {shown.length ? (
        <>
          {namespace && metric && shown.length > 1 ? (
            <button type="button" onClick={() => onSearchAll(namespace, metric, dimKeys)}>
              Graph all {shown.length} with SEARCH
            </button>
          ) : null}
          <table class="data-table series-table" aria-label="Series">
            <thead>
              <tr>
                <th />
                {!metric ? <th>Metric</th> : null}
                <th>Dimensions</th>
              </tr>
            </thead>
            <tbody>
              {shown.map((s) => {
                const label = `${s.name} ${dimsText(s.dimensions)}`;
                return (
                  <tr key={s.namespace + s.name + dimsText(s.dimensions)}>
                    <td>
                      <input
                        type="checkbox"
                        aria-label={`Graph ${label}`}
                        checked={isGraphed(s)}
                        onChange={(e) => onToggle(s, (e.target as HTMLInputElement).checked)}
                      />
                    </td>
                    {!metric ? (
                      <td>
                        {s.namespace} · {s.name}
                      </td>
                    ) : null}
                    <td>{dimsText(s.dimensions)}</td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </>
      ) : null}
    </aside>
  );
}
