// The alarms API as the pages use it (/api/v1/alarms…, /api/v1/alarm-annotations).
import { useEffect, useMemo, useState } from "preact/hooks";
import { api, isAbort } from "../api";
import { StateTrack } from "../chart/stateMarks";
import { hasFeature } from "../features";

export interface AlarmSummary {
  name: string;
  kind: string;
  state: string;
  reason: string;
  updated: string;
}

export interface AlarmDetail {
  name: string;
  kind: "MetricAlarm" | "CompositeAlarm";
  definition: Record<string, any>;
  state: string;
  reason: string;
  reason_data: Record<string, any> | null;
  updated_ms: number;
  transitioned_ms: number;
  configuration_updated_ms: number;
}

export interface HistoryItem {
  time_ms: number;
  type: string;
  summary: string;
  data: Record<string, any>;
}

export interface Backtest {
  start: number;
  end: number;
  step: number;
  evaluations: number;
  changes: { time: number; old: string; new: string; reason: string }[];
  final: string;
  series: {
    period: number;
    times: number[];
    values: (number | null)[];
    lower: (number | null)[] | null;
    upper: (number | null)[] | null;
  };
  threshold: number | null;
  comparison: string;
}

export interface MetricRef {
  namespace: string;
  name: string;
  dimensions: Record<string, string>;
}

export interface AnnotatedAlarm {
  name: string;
  state: string;
  threshold: number | null;
  comparison: string | null;
  before: string | null;
  changes: { time_ms: number; old: string; new: string }[];
}

export const STATES = ["ALARM", "INSUFFICIENT_DATA", "OK"] as const;

export function alarmPath(name: string): string {
  return `/api/v1/alarms/${encodeURIComponent(name)}`;
}

export function toTrack(a: AnnotatedAlarm): StateTrack {
  return {
    alarm: a.name,
    before: a.before,
    changes: a.changes.map((c) => ({ timeMs: c.time_ms, old: c.old, state: c.new, alarm: a.name })),
  };
}

/** Alarms watching these metrics (or named), with their state changes in the range. */
export function useAlarmAnnotations(
  metrics: MetricRef[],
  alarms: string[],
  startMs: number,
  endMs: number,
  refresh: unknown = 0,
): AnnotatedAlarm[] {
  const [found, setFound] = useState<AnnotatedAlarm[]>([]);
  const key = JSON.stringify([metrics, alarms]);
  useEffect(() => {
    if (!hasFeature("alarm-detail") || (!metrics.length && !alarms.length)) {
      setFound([]);
      return;
    }
    const ac = new AbortController();
    api<{ alarms: AnnotatedAlarm[] }>("/api/v1/alarm-annotations", {
      method: "POST",
      body: { start: startMs, end: endMs, metrics, alarms },
      signal: ac.signal,
    })
      .then((r) => setFound(r.alarms))
      .catch((e) => {
        // Annotations are extra: a graph without them is still a graph.
        if (!isAbort(e)) setFound([]);
      });
    return () => ac.abort();
  }, [key, startMs, endMs, refresh]);
  return found;
}

/** One graph's question: alarms watching these metrics, and alarms named. */
export interface AnnotationGroup {
  metrics: MetricRef[];
  alarms: string[];
}

const NO_ALARMS: AnnotatedAlarm[] = [];

/** Many graphs' annotations in one request (a dashboard, per load and per range): each
 *  group's alarms as the single form answers them; empty lists until the answer is in
 *  (and for null groups: graphs that draw none). */
export function useAlarmAnnotationGroups(
  groups: (AnnotationGroup | null)[],
  startMs: number,
  endMs: number,
): AnnotatedAlarm[][] {
  const [answer, setAnswer] = useState<{ alarms: AnnotatedAlarm[]; groups: string[][] } | null>(null);
  const asked = groups.filter((g): g is AnnotationGroup => g !== null);
  const key = JSON.stringify(asked);
  useEffect(() => {
    if (!hasFeature("alarm-detail") || !asked.length) {
      setAnswer(null);
      return;
    }
    const ac = new AbortController();
    api<{ alarms: AnnotatedAlarm[]; groups: string[][] }>("/api/v1/alarm-annotations", {
      method: "POST",
      body: { start: startMs, end: endMs, groups: asked },
      signal: ac.signal,
    })
      .then(setAnswer)
      .catch((e) => {
        // Annotations are extra: graphs without them are still graphs.
        if (!isAbort(e)) setAnswer(null);
      });
    return () => ac.abort();
  }, [key, startMs, endMs]);
  // Per graph, in the groups' order (null groups were not sent).
  const shape = groups.map((g) => g !== null).join();
  return useMemo(() => {
    const byName = new Map((answer?.alarms ?? []).map((a) => [a.name, a]));
    let next = 0;
    return groups.map((g) => {
      if (g === null || !answer) return NO_ALARMS;
      const names = answer.groups[next++] ?? [];
      return names.length ? names.flatMap((n) => byName.get(n) ?? []) : NO_ALARMS;
    });
  }, [answer, shape]);
}

/** A metric widget's plain metric rows as metric references (expressions skipped). */
export function rowMetrics(rows: [string[], Record<string, any>][]): MetricRef[] {
  const out: MetricRef[] = [];
  for (const [values, options] of rows) {
    if ("expression" in options || values.length < 2) continue;
    const [namespace, name, ...rest] = values;
    const dimensions: Record<string, string> = {};
    for (let i = 0; i + 1 < rest.length; i += 2) dimensions[rest[i]] = rest[i + 1];
    out.push({ namespace, name, dimensions });
  }
  return out;
}
