// /logs: the Logs Insights explorer. URL state: groups (comma-separated), query, from, to,
// tz, tab (results | patterns | tail). A query in the URL runs when the page opens.
import { useCallback, useEffect, useRef, useState } from "preact/hooks";
import { isAbort } from "../api";
import { TimePicker } from "../components/TimePicker";
import { logsApi } from "../logs/aws";
import { FieldSidebar, TopValues } from "../logs/FieldSidebar";
import { GroupPicker, useLogGroups } from "../logs/GroupPicker";
import { Histogram, toBins } from "../logs/Histogram";
import { EditorError, InsightsEditor } from "../logs/InsightsEditor";
import { LiveTail } from "../logs/LiveTail";
import {
  binSeconds,
  hasAggregation,
  histogramQuery,
  patternQuery,
  pollQuery,
  QueryAnswer,
  QueryTextError,
  startQuery,
  stopQuery,
  topValuesQuery,
  withFilter,
} from "../logs/query";
import { ResultsTable } from "../logs/ResultsTable";
import { HistoryItem, listSaved, loadHistory, QueryDefinition, remember, saveQuery } from "../logs/saved";
import { navigate, withParams } from "../router";
import { plural } from "../text";
import { Range } from "../time";
import { useResolvedRange } from "../resolvedRange";

const DEFAULT_QUERY = "fields @timestamp, @message, @logStream, @log\n| sort @timestamp desc\n| limit 10000";
const ROW_LIMIT = 10000;

interface Run {
  status: "running" | "done" | "stopped" | "error";
  id?: string;
  answer?: QueryAnswer;
  message?: string;
  startedAt: number;
  seconds?: number;
}

export function Logs({ query }: { query: URLSearchParams }) {
  const groups = (query.get("groups") ?? "").split(",").filter(Boolean);
  const text = query.get("query") ?? DEFAULT_QUERY;
  const range: Range = { from: query.get("from") ?? "now-1h", to: query.get("to") ?? "now" };
  const tz = query.get("tz") ?? "local";
  const tab = query.get("tab") ?? "results";
  const [draft, setDraft] = useState(text);
  const [tick, setTick] = useState(0);
  const [run, setRun] = useState<Run | null>(null);
  const [hist, setHist] = useState<{ times: number[]; values: number[] } | null>(null);
  const [patterns, setPatterns] = useState<Run | null>(null);
  const [editorError, setEditorError] = useState<EditorError | null>(null);
  const [discovered, setDiscovered] = useState<{ name: string; percent: number }[]>([]);
  const [history, setHistory] = useState<HistoryItem[]>(loadHistory);
  const [saved, setSaved] = useState<QueryDefinition[] | null>(null);
  const [panel, setPanel] = useState<"none" | "history" | "saved" | "save">("none");
  const [saveName, setSaveName] = useState("");
  const [note, setNote] = useState<string | null>(null);
  const { groups: known, error: groupsError } = useLogGroups();
  const stopRef = useRef<() => void>(() => undefined);

  useEffect(() => setDraft(text), [text]);

  const { startMs, endMs } = useResolvedRange(range, tick);

  const missing = known ? groups.filter((g) => !known.some((k) => k.name === g)) : [];
  const groupsKey = groups.join(",");

  // The groups' discovered fields (GetLogGroupFields) feed completion and the sidebar.
  // Only groups that exist are asked (a missing one is reported once, above the editor),
  // once per set of groups, and only once a running query has its rows: over a big group
  // the field scan would take the store's cores from the first rows.
  const existing = known ? groups.filter((g) => known.some((k) => k.name === g)) : [];
  const existingKey = existing.join(",");
  const settled = !run || run.status !== "running" || run.answer !== undefined;
  const fieldsFor = useRef<string | null>(null);
  useEffect(() => {
    if (!existing.length) {
      fieldsFor.current = null;
      return setDiscovered([]);
    }
    if (!settled || fieldsFor.current === existingKey) return;
    const key = existingKey;
    fieldsFor.current = key;
    Promise.all(
      existing.map((g) =>
        logsApi<{ logGroupFields: { name: string; percent: number }[] }>("GetLogGroupFields", { logGroupName: g })
          .then((r) => r.logGroupFields ?? [])
          .catch(() => []),
      ),
    ).then((lists) => {
      if (fieldsFor.current !== key) return; // the groups changed meanwhile
      const best = new Map<string, number>();
      for (const l of lists) for (const f of l) best.set(f.name, Math.max(best.get(f.name) ?? 0, f.percent));
      setDiscovered([...best.entries()].map(([name, percent]) => ({ name, percent })));
    });
  }, [existingKey, settled]);

  // Running: the query (up to 10,000 rows), then its histogram. Rows show as soon as the
  // server has them (before the counts of the statistics); the histogram query starts
  // only then, so that it does not take the store's cores from the first rows.
  useEffect(() => {
    if (!groups.length || !text.trim() || tab === "tail") return;
    // Runs at once (not after the group list: a round trip less to the first rows); a
    // group the list shows missing is reported instead.
    if (known && missing.length) return;
    const ac = new AbortController();
    const startedAt = performance.now();
    setEditorError(null);
    setRun({ status: "running", startedAt });
    setHist(null);
    const bin = binSeconds(startMs, endMs);
    let mainId: string | undefined;
    stopRef.current = () => {
      ac.abort();
      if (mainId) stopQuery(mainId);
      setRun((r) => (r && r.status === "running" ? { ...r, status: "stopped", seconds: (performance.now() - startedAt) / 1000 } : r));
    };
    setHistory(remember({ query: text, groups, at: Date.now() }));
    (async () => {
      try {
        const id = await startQuery(text, groups, startMs, endMs, ROW_LIMIT, ac.signal);
        mainId = id;
        setRun({ status: "running", id, startedAt });
        let histStarted = false;
        // The histogram's failure leaves the results as they are.
        const histogram = () => {
          if (histStarted || ac.signal.aborted) return;
          histStarted = true;
          startQuery(histogramQuery(text, bin), groups, startMs, endMs, ROW_LIMIT, ac.signal)
            .then((hid) => pollQuery(hid, ac.signal))
            .then((a) => a.status === "Complete" && setHist(toBins(a.results ?? [], bin, startMs, endMs)))
            .catch(() => undefined);
        };
        const answer = await pollQuery(id, ac.signal, (rowsSoFar) => {
          setRun((r) => (r && r.id === id && r.status === "running" ? { ...r, answer: rowsSoFar } : r));
          histogram();
        });
        if (answer.status === "Complete") histogram();
        const seconds = (performance.now() - startedAt) / 1000;
        if (answer.status === "Complete") setRun({ status: "done", id, answer, startedAt, seconds });
        else if (answer.status === "Cancelled") setRun({ status: "stopped", id, startedAt, seconds });
        else
          setRun({
            status: "error",
            id,
            startedAt,
            seconds,
            message:
              answer.status === "Timeout"
                ? `The query timed out: ${answer.error ?? "it ran over the server's time limit"}. Narrow the time range or the log groups, or add a filter.`
                : `The query failed: ${answer.error ?? answer.status}`,
          });
      } catch (e) {
        if (isAbort(e)) return;
        if (e instanceof QueryTextError) {
          setEditorError({ message: e.message, start: e.start, end: e.end });
          setRun({ status: "error", startedAt, message: e.message });
        } else setRun({ status: "error", startedAt, message: (e as Error).message });
      }
    })();
    return () => ac.abort();
  }, [text, groupsKey, startMs, endMs, tick, tab === "tail", missing.length]);

  // The pattern view: the same matching events clustered by `pattern @message`.
  useEffect(() => {
    if (tab !== "patterns" || !groups.length || (known && missing.length)) return;
    const ac = new AbortController();
    const startedAt = performance.now();
    setPatterns({ status: "running", startedAt });
    startQuery(patternQuery(text), groups, startMs, endMs, ROW_LIMIT, ac.signal)
      .then((id) => pollQuery(id, ac.signal))
      .then((answer) =>
        setPatterns(
          answer.status === "Complete"
            ? { status: "done", answer, startedAt }
            : { status: "error", startedAt, message: answer.error ?? answer.status },
        ),
      )
      .catch((e) => !isAbort(e) && setPatterns({ status: "error", startedAt, message: e.message }));
    return () => ac.abort();
  }, [tab, text, groupsKey, startMs, endMs, tick, missing.length]);

  const go = (changes: Record<string, string | null>) => navigate(withParams(changes));
  const runNow = (q: string) => {
    if (q === text && tab !== "tail") setTick((t) => t + 1);
    else go({ query: q, tab: tab === "tail" ? null : tab === "patterns" ? "patterns" : null });
  };
  const rows = run?.answer?.results ?? [];
  const fields = run?.answer?.fields ?? [];
  const stats = run?.status === "done" ? run.answer?.statistics : undefined;
  const aggregated = hasAggregation(text);
  // A field's top values over every matching event (a query of its own, on demand).
  const top = useCallback(
    async (field: string, signal: AbortSignal): Promise<TopValues> => {
      const id = await startQuery(topValuesQuery(text, field), groups, startMs, endMs, ROW_LIMIT, signal);
      const a = await pollQuery(id, signal);
      if (a.status !== "Complete") throw new Error(a.error ?? a.status);
      return (a.results ?? [])
        .filter((r) => r[field] !== undefined)
        .map((r) => ({ value: r[field], count: Number(r.events ?? 0) }));
    },
    [text, groupsKey, startMs, endMs],
  );

  return (
    <div class="logs-page">
      <div class="toolbar">
        <h1>Logs</h1>
        <TimePicker
          range={range}
          tz={tz}
          refresh={query.get("refresh") ?? "off"}
          onRange={(r) => go({ from: r.from, to: r.to === "now" ? null : r.to })}
          onTz={(z) => go({ tz: z === "local" ? null : z })}
          onRefresh={(r) => go({ refresh: r === "off" ? null : r })}
          onReload={() => setTick((t) => t + 1)}
        />
      </div>
      <div class="logs-controls">
        <GroupPicker groups={known} selected={groups} onChange={(g) => go({ groups: g.length ? g.join(",") : null })} />
        {groupsError ? <div class="widget-error">{groupsError}</div> : null}
        {missing.length ? (
          <div class="widget-error" role="alert">
            {missing.length === 1 ? "Log group " : "Log groups "}
            <strong>{missing.join(", ")}</strong> {missing.length === 1 ? "does" : "do"} not exist. Choose another in the
            list of log groups.
          </div>
        ) : null}
        <InsightsEditor
          value={text}
          fields={[...fields, ...discovered.map((d) => d.name)]}
          error={editorError}
          onChange={setDraft}
          onRun={runNow}
        />
        <div class="editor-actions">
          {/* Keyed: Run and Stop are two elements, so a click aimed at Run in the frame
              where a run starts lands on nothing rather than on Stop (one reused button
              stopped queries 0.1 s after they began). */}
          {run?.status === "running" ? (
            <button key="stop" type="button" class="primary" onClick={() => stopRef.current()}>
              Stop
            </button>
          ) : (
            <button key="run" type="button" class="primary" onClick={() => runNow(draft)} disabled={!groups.length} title="Run (Ctrl+Enter)">
              Run
            </button>
          )}
          <button type="button" aria-expanded={panel === "history"} onClick={() => setPanel(panel === "history" ? "none" : "history")}>
            History
          </button>
          <button
            type="button"
            aria-expanded={panel === "saved"}
            onClick={() => {
              setPanel(panel === "saved" ? "none" : "saved");
              listSaved().then(setSaved).catch((e) => setNote(e.message));
            }}
          >
            Saved queries
          </button>
          <button type="button" aria-expanded={panel === "save"} onClick={() => setPanel(panel === "save" ? "none" : "save")}>
            Save
          </button>
          <span class="run-status" role="status" aria-live="polite">
            {runStatus(run)}
            {note ? ` · ${note}` : ""}
          </span>
        </div>
        {panel === "history" ? (
          <ul class="query-list" aria-label="Query history">
            {history.length === 0 ? <li class="muted">No queries run in this browser yet.</li> : null}
            {history.map((h) => (
              <li key={h.at}>
                <button type="button" onClick={() => { setPanel("none"); go({ query: h.query, groups: h.groups.join(",") }); }}>
                  <code>{h.query.replace(/\s+/g, " ").slice(0, 140)}</code>
                </button>
                <span class="muted"> {h.groups.join(", ")}</span>
              </li>
            ))}
          </ul>
        ) : null}
        {panel === "saved" ? (
          <ul class="query-list" aria-label="Saved queries">
            {saved === null ? <li class="muted">Loading…</li> : saved.length === 0 ? <li class="muted">No saved queries.</li> : null}
            {(saved ?? []).map((d) => (
              <li key={d.queryDefinitionId}>
                <button
                  type="button"
                  onClick={() => {
                    setPanel("none");
                    go({ query: d.queryString, groups: (d.logGroupNames?.length ? d.logGroupNames : groups).join(",") || null });
                  }}
                >
                  {d.name}
                </button>{" "}
                <code class="muted">{d.queryString.replace(/\s+/g, " ").slice(0, 100)}</code>
              </li>
            ))}
          </ul>
        ) : null}
        {panel === "save" ? (
          <form
            class="save-form"
            onSubmit={(e) => {
              e.preventDefault();
              if (!saveName.trim()) return;
              saveQuery(saveName.trim(), draft, groups)
                .then(() => {
                  setNote(`Saved as “${saveName.trim()}”`);
                  setPanel("none");
                })
                .catch((err) => setNote(`Not saved: ${err.message}`));
            }}
          >
            <label>
              Query name
              <input type="text" value={saveName} onInput={(e) => setSaveName((e.target as HTMLInputElement).value)} />
            </label>
            <button type="submit">Save query</button>
          </form>
        ) : null}
      </div>
      <div class="tabs" role="tablist">
        {[
          ["results", "Logs"],
          ["patterns", "Patterns"],
          ["tail", "Live tail"],
        ].map(([key, label]) => (
          <button
            type="button"
            role="tab"
            key={key}
            aria-selected={tab === key}
            onClick={() => go({ tab: key === "results" ? null : key })}
          >
            {label}
          </button>
        ))}
      </div>
      {tab === "tail" ? (
        <LiveTail groups={groups} tz={tz} />
      ) : (
        <div class="logs-body">
          <FieldSidebar
            rows={rows}
            fields={fields}
            discovered={discovered}
            top={aggregated || !groups.length ? undefined : top}
            matched={stats?.recordsMatched}
            onFilter={(f, v, neg) => go({ query: withFilter(text, f, v, neg), tab: null })}
          />
          <div class="logs-main">
            {run?.status === "error" && !missing.length ? (
              <div class="widget-error" role="alert">
                {run.message}
              </div>
            ) : null}
            {groups.length === 0 ? <p class="muted">Choose one or more log groups, write a query and press Run.</p> : null}
            {run?.status === "stopped" && tab !== "patterns" ? (
              <p class="muted query-stopped">
                The query was stopped after {run.seconds?.toFixed(1) ?? "?"} s (on the server too){run.answer ? "; the rows it had found are below" : ""}. Press Run to run it again.
              </p>
            ) : null}
            {hist ? (
              <Histogram
                {...hist}
                tz={tz}
                startMs={startMs}
                endMs={endMs}
                onZoom={(a, b) => go({ from: String(a), to: String(b) })}
              />
            ) : null}
            {tab === "patterns" ? (
              <PatternView run={patterns} tz={tz} />
            ) : run?.status === "done" || (run?.status !== "error" && run?.answer) ? (
              rows.length === 0 ? (
                <p class="muted">No log events match in this time range.</p>
              ) : (
                <>
                  {stats ? (
                    <p class="muted result-count">
                      Showing {rows.length.toLocaleString()} of {plural(Number(stats.recordsMatched ?? rows.length), "record")}{" "}
                      matched · {Number(stats.recordsScanned ?? 0).toLocaleString()} scanned
                    </p>
                  ) : null}
                  <ResultsTable rows={rows} fields={fields} tz={tz} />
                </>
              )
            ) : null}
          </div>
        </div>
      )}
    </div>
  );
}

function runStatus(run: Run | null): string {
  if (!run) return "";
  if (run.status === "running")
    return run.answer ? `Running… · ${plural((run.answer.results ?? []).length, "row")} · counting matches` : "Running…";
  if (run.status === "stopped") return `Stopped after ${run.seconds?.toFixed(1) ?? "?"} s`;
  if (run.status === "error") return "Failed";
  return `Complete in ${run.seconds?.toFixed(2)} s · ${plural((run.answer?.results ?? []).length, "row")}`;
}

function PatternView({ run, tz }: { run: Run | null; tz: string }) {
  if (!run || run.status === "running") return <p class="muted">Finding patterns…</p>;
  if (run.status === "error")
    return (
      <div class="widget-error" role="alert">
        {run.message}
      </div>
    );
  const rows = run.answer?.results ?? [];
  if (!rows.length) return <p class="muted">No patterns: no log events match.</p>;
  return <ResultsTable rows={rows} fields={run.answer?.fields ?? []} tz={tz} />;
}
