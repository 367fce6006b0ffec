// Running Logs Insights queries from the explorer (POST /api/v1/logs/insights, poll, DELETE
// to stop) and the queries derived from the user's: the histogram's and the pattern view's.
import { api, ApiError, isAbort } from "../api";

export interface QueryAnswer {
  query_id: string;
  status: string; // Scheduled, Running, Complete, Failed, Cancelled, Timeout
  error?: string;
  fields?: string[];
  results?: Record<string, string>[];
  statistics?: Record<string, number>;
}

/** A refusal of the query text, with the character offsets the server names. */
export class QueryTextError extends Error {
  constructor(
    message: string,
    public start: number,
    public end: number,
  ) {
    super(message);
  }
}

const sleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((ok, fail) => {
    const t = setTimeout(ok, ms);
    signal.addEventListener("abort", () => {
      clearTimeout(t);
      fail(new DOMException("aborted", "AbortError"));
    });
  });

export interface RunHandle {
  id: Promise<string>;
  answer: Promise<QueryAnswer>;
}

export async function startQuery(
  query: string,
  groups: string[],
  startMs: number,
  endMs: number,
  limit: number,
  signal: AbortSignal,
): Promise<string> {
  try {
    const r = await api<{ query_id: string }>("/api/v1/logs/insights", {
      method: "POST",
      body: { query, groups, start: String(startMs), end: String(endMs), limit },
      signal,
    });
    return r.query_id;
  } catch (e) {
    if (e instanceof ApiError && e.code === "malformed_query") {
      const d = e.details as { start?: number; end?: number };
      throw new QueryTextError(e.message, Number(d.start ?? 0), Number(d.end ?? 0));
    }
    throw e;
  }
}

/** Polls until the query ends; an abort stops it on the server too. ``onRows`` gets the
 *  rows the server answers while the query still runs (its final rows, before the counts
 *  of its statistics), once. */
export async function pollQuery(
  id: string,
  signal: AbortSignal,
  onRows?: (answer: QueryAnswer) => void,
): Promise<QueryAnswer> {
  const path = `/api/v1/logs/insights/${id}`;
  let told = false;
  try {
    for (;;) {
      // A long poll: the server answers as soon as there are rows or the query ended.
      const answer = await api<QueryAnswer>(`${path}?wait=2000`, { signal });
      if (answer.status !== "Running" && answer.status !== "Scheduled") return answer;
      if (onRows && !told && answer.results) {
        told = true;
        onRows(answer);
      }
      await sleep(5, signal);
    }
  } catch (e) {
    if (isAbort(e)) stopQuery(id);
    throw e;
  }
}

export function stopQuery(id: string): void {
  api(`/api/v1/logs/insights/${id}`, { method: "DELETE" }).catch(() => undefined);
}

/** The query's commands split at top-level pipes (not inside strings, regexes, comments). */
export function splitCommands(text: string): string[] {
  const parts: string[] = [];
  let cur = "";
  let quote: string | null = null;
  let operand = true;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quote) {
      cur += c;
      if (c === "\\" && i + 1 < text.length) cur += text[++i];
      else if (c === quote) quote = null;
      continue;
    }
    if (c === "#") {
      const nl = text.indexOf("\n", i);
      const stop = nl < 0 ? text.length : nl;
      cur += text.slice(i, stop);
      i = stop - 1;
      continue;
    }
    if (c === "'" || c === '"' || c === "`" || (c === "/" && operand)) {
      quote = c;
      cur += c;
      continue;
    }
    if (c === "|") {
      parts.push(cur.trim());
      cur = "";
      operand = true;
      continue;
    }
    cur += c;
    if (!/\s/.test(c)) operand = /[=(,~!<>]/.test(c) || /(^|\s)(like|filter|and|or|not)$/i.test(cur);
  }
  if (cur.trim()) parts.push(cur.trim());
  return parts.filter((p) => p.length > 0);
}

const commandOf = (part: string) => (/^[A-Za-z]+/.exec(part)?.[0] ?? "").toLowerCase();

/** The commands that decide which events match (filters, parses), before any aggregation;
 *  ordering, limits and display are left out. */
export function matchingPart(text: string): string[] {
  const out: string[] = [];
  for (const part of splitCommands(text)) {
    const cmd = commandOf(part);
    if (cmd === "stats" || cmd === "pattern" || cmd === "diff") break;
    if (cmd === "sort" || cmd === "limit" || cmd === "display" || cmd === "dedup") continue;
    out.push(part);
  }
  return out;
}

export function hasAggregation(text: string): boolean {
  return splitCommands(text).some((p) => ["stats", "pattern", "diff"].includes(commandOf(p)));
}

const BINS = [1, 5, 10, 30, 60, 300, 600, 1800, 3600, 10800, 21600, 43200, 86400];

/** A bin width (seconds) giving at most ~100 bars over the range. */
export function binSeconds(startMs: number, endMs: number): number {
  const span = (endMs - startMs) / 1000;
  return BINS.find((b) => span / b <= 100) ?? 86400;
}

export function histogramQuery(text: string, bin: number): string {
  return [...matchingPart(text), `stats count(*) as events by bin(${bin}s)`].join("\n| ");
}

export function patternQuery(text: string): string {
  return [...matchingPart(text), "pattern @message"].join("\n| ");
}

/** The query with one more filter (a field's value chosen in the sidebar), placed before
 *  any aggregation, ordering or limit so that it narrows what they see. */
export function withFilter(text: string, field: string, value: string, negate = false): string {
  const name = fieldRef(field);
  const literal = /^-?\d+(\.\d+)?$/.test(value) ? value : JSON.stringify(value);
  const filter = `filter ${name} ${negate ? "!=" : "="} ${literal}`;
  const parts = splitCommands(text);
  const later = ["stats", "sort", "limit", "display", "dedup", "pattern", "diff"];
  const at = parts.findIndex((p) => later.includes(commandOf(p)));
  if (at < 0) return [...parts, filter].join("\n| ");
  return [...parts.slice(0, at), filter, ...parts.slice(at)].join("\n| ");
}

/** A field's name as a query writes it (backquoted unless a plain name). */
export function fieldRef(field: string): string {
  return /^[@A-Za-z_][\w.@]*$/.test(field) ? field : "`" + field.replace(/`/g, "``") + "`";
}

/** The five most frequent values of ``field`` among all the events the query matches
 *  (not only the rows loaded): its matching commands, then a count by the field. */
export function topValuesQuery(text: string, field: string, n = 5): string {
  const f = fieldRef(field);
  return [...matchingPart(text), `filter ispresent(${f})`, `stats count(*) as events by ${f}`, `sort events desc`, `limit ${n}`].join(
    "\n| ",
  );
}

/** The log lines of one trace, by the records' trace id field (not the message text). */
export function traceLogsQuery(traceId: string): string {
  return `fields @timestamp, @message, @logStream, @traceId\n| filter @traceId = "${traceId.toLowerCase()}"\n| sort @timestamp desc`;
}
