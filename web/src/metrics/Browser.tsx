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

type Listing<T> = { items: T[] | null; error?: string; partial: boolean };

function useListing<T>(url: string | null, pick: (r: any) => [T[], boolean]): Listing<T> {
  const [state, setState] = useState<Listing<T>>({ items: null, partial: false });
  useEffect(() => {
    setState({ items: null, partial: false });
    if (url === null) return;
    const ac = new AbortController();
    api<any>(url, { signal: ac.signal })
      .then((r) => {
        const [items, partial] = pick(r);
        setState({ items, partial });
      })
      .catch((e) => !isAbort(e) && setState({ items: null, error: e.message, partial: false }));
    return () => ac.abort();
  }, [url]);
  return state;
}

/** Series of a namespace and metric (or every series, for a search), one page. */
function useSeries(namespace: string | null, metric: string | null, enabled: boolean): Listing<SeriesInfo> {
  const q = new URLSearchParams({ limit: String(PAGE) });
  if (namespace) q.set("namespace", namespace);
  if (metric) q.set("name", metric);
  return useListing<SeriesInfo>(enabled ? `/api/v1/metrics/series?${q}` : null, (r) => [r.series, r.next_cursor !== null]);
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
  const [text, setText] = useState(search);
  useEffect(() => setText(search), [search]);
  const words = search.toLowerCase().split(/\s+/).filter(Boolean);
  const nsList = useListing<{ namespace: string; metrics: number }>(
    namespace ? null : "/api/v1/metrics/namespaces?limit=10000",
    (r) => [r.namespaces, r.truncated],
  );
  const nameList = useListing<{ name: string; series: number; dimension_keys: string[] }>(
    namespace && !metric ? `/api/v1/metrics/names?namespace=${encodeURIComponent(namespace)}&limit=10000` : null,
    (r) => [r.metrics, r.truncated],
  );
  // Series are listed for a metric, or for a search (within the namespace, if one is open).
  const all = useSeries(namespace, metric, !!metric || words.length > 0);
  const series = all.items;
  const error = nsList.error ?? nameList.error ?? all.error;
  const loading = (!namespace && !nsList.items) || (namespace && !metric && !nameList.items) || (metric && !series);

  const namespaces = useMemo(
    () =>
      (nsList.items ?? [])
        .filter((n) => !words.length || words.some((w) => n.namespace.toLowerCase().includes(w)) || series?.some((s) => s.namespace === n.namespace))
        .map((n) => [n.namespace, n.metrics] as [string, number]),
    [nsList.items, series, search],
  );
  const metrics = useMemo(
    () =>
      (nameList.items ?? [])
        .filter(
          (m) =>
            !words.length ||
            words.every((w) => m.name.toLowerCase().includes(w) || m.dimension_keys.some((k) => k.toLowerCase().includes(w))) ||
            series?.some((s) => s.name === m.name),
        )
        .map((m) => [m.name, m.series] as [string, number]),
    [nameList.items, series, search],
  );

  const shown = useMemo(() => {
    if (!series) return [];
    return series.filter((s) => (!namespace || s.namespace === namespace) && matches(s, words)).slice(0, 500);
  }, [series, namespace, search]);

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
      {error ? <div class="widget-error" role="alert">{error}</div> : null}
      {loading && !error ? <p class="muted">Loading metrics…</p> : null}
      {nsList.items && nsList.items.length === 0 ? (
        <p class="muted">No metrics yet. Send some with PutMetricData or OpenTelemetry.</p>
      ) : null}
      {all.partial ? <p class="muted">Showing the first {series?.length.toLocaleString()} series; search to narrow.</p> : null}
      {words.length && series && !shown.length ? <p class="muted">No series matches “{search}”.</p> : null}
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
