// Query results as a windowed table (fast at 10,000 rows): a row expands in place to its
// fields, its message as a JSON tree, and the whole record (GetLogRecord with its @ptr).
import { useRef, useState } from "preact/hooks";
import { logsApi } from "./aws";
import { JsonTree, parseJson } from "./JsonTree";
import { Linked, normalTraceId, recordTraceId, TRACE_KEYS, TraceLink } from "./links";
import { useWindow } from "./virtual";
import { formatTime } from "../time";

const ROW = 26;
const DETAIL = 280;

type Row = Record<string, string>;

function cellText(field: string, value: string | undefined, tz: string): string {
  if (value === undefined) return "";
  if (field === "@timestamp" || field === "@ingestionTime") {
    const t = Date.parse(value.includes("T") ? value : value.replace(" ", "T") + "Z");
    if (!Number.isNaN(t)) return formatTime(t, tz) + "." + String(t % 1000).padStart(3, "0");
  }
  return value;
}

function Record_({ ptr }: { ptr: string }) {
  const [state, setState] = useState<{ record?: Record<string, string>; error?: string } | null>(null);
  if (state === null)
    return (
      <button
        type="button"
        onClick={() => {
          setState({});
          logsApi<{ logRecord: Record<string, string> }>("GetLogRecord", { logRecordPointer: ptr })
            .then((r) => setState({ record: r.logRecord }))
            .catch((e) => setState({ error: e.message }));
        }}
      >
        Show full record
      </button>
    );
  if (state.error) return <div class="widget-error">{state.error}</div>;
  if (!state.record) return <span class="muted">Loading record…</span>;
  return <JsonTree value={state.record} name="record" />;
}

/** A cell: the message with its record's trace id linked, a trace id field as a link. */
function Cell({ field, row, tz, traceId }: { field: string; row: Row; tz: string; traceId: string | null }) {
  const v = row[field];
  if (field === "@message") return <Linked text={v ?? ""} traceId={traceId} />;
  const id = field === "@traceId" || TRACE_KEYS.includes(field) ? normalTraceId(v) : null;
  if (id) return <TraceLink id={id}>{v}</TraceLink>;
  return <>{cellText(field, v, tz)}</>;
}

function Detail({ row, tz }: { row: Row; tz: string }) {
  const message = row["@message"];
  const traceId = recordTraceId(row);
  const json = message !== undefined ? parseJson(message) : undefined;
  return (
    <div class="result-detail" role="region" aria-label="Log event details">
      <table class="kv">
        <tbody>
          {Object.keys(row)
            .filter((k) => k !== "@ptr")
            .map((k) => (
              <tr key={k}>
                <th>{k}</th>
                <td>
                  <Cell field={k} row={row} tz={tz} traceId={traceId} />
                </td>
              </tr>
            ))}
        </tbody>
      </table>
      {json !== undefined ? <JsonTree value={json} name="@message" /> : null}
      {row["@ptr"] ? <Record_ ptr={row["@ptr"]} /> : null}
    </div>
  );
}

export function ResultsTable({ rows, fields, tz }: { rows: Row[]; fields: string[]; tz: string }) {
  const scroller = useRef<HTMLDivElement>(null);
  const [open, setOpen] = useState<Set<number>>(new Set());
  const cols = fields.filter((f) => f !== "@ptr");
  const win = useWindow(scroller, rows.length, (i) => (open.has(i) ? ROW + DETAIL : ROW), open);
  const template = cols.map((f) => (f === "@timestamp" ? "200px" : f === "@message" ? "minmax(300px, 1fr)" : "minmax(100px, auto)")).join(" ");
  const toggle = (i: number) => {
    const next = new Set(open);
    if (next.has(i)) next.delete(i);
    else next.add(i);
    setOpen(next);
  };
  const visible = [];
  for (let i = win.first; i < win.last; i++) {
    const row = rows[i];
    const expanded = open.has(i);
    const traceId = recordTraceId(row);
    visible.push(
      <div
        class={expanded ? "result-row open" : "result-row"}
        role="row"
        aria-rowindex={i + 2}
        aria-expanded={expanded}
        key={i}
        style={{ top: `${win.top(i)}px` }}
      >
        <div class="result-cells" style={{ gridTemplateColumns: `24px ${template}` }} onClick={() => toggle(i)}>
          <button type="button" class="icon expander" aria-label={expanded ? "Collapse row" : "Expand row"}>
            {expanded ? "▾" : "▸"}
          </button>
          {cols.map((f) => (
            <div role="cell" class="result-cell" key={f} title={row[f]}>
              <Cell field={f} row={row} tz={tz} traceId={traceId} />
            </div>
          ))}
        </div>
        {expanded ? <Detail row={row} tz={tz} /> : null}
      </div>,
    );
  }
  return (
    <div class="results" role="table" aria-label="Query results" aria-rowcount={rows.length + 1}>
      <div class="result-head" role="row" style={{ gridTemplateColumns: `24px ${template}` }}>
        <span />
        {cols.map((f) => (
          <div role="columnheader" key={f}>
            {f}
          </div>
        ))}
      </div>
      <div class="results-scroll" ref={scroller}>
        <div class="results-inner" style={{ height: `${win.total}px` }}>
          {visible}
        </div>
      </div>
    </div>
  );
}
