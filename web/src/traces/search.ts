// Trace search results in one shape, whether they came from the span search (service, name,
// duration, errors) or from an X-Ray filter expression (GetTraceSummaries' summaries).

export interface TraceHit {
  id: string;
  startMs: number;
  durationMs: number;
  root: string;
  services: string[];
  spans: number | null;
  error: boolean;
  logs: number;
}

export function normalize(row: any): TraceHit {
  if ("Id" in row) {
    const services = (row.ServiceIds ?? []).map((s: any) => s.Name).filter(Boolean);
    const entry = row.EntryPoint?.Name ?? services[0] ?? "";
    return {
      id: row.trace_id,
      startMs: Math.round(Number(row.StartTime) * 1000),
      durationMs: Number(row.Duration) * 1000,
      root: [entry, row.Http?.HttpURL].filter(Boolean).join(" "),
      services,
      spans: null,
      error: Boolean(row.HasError || row.HasFault),
      logs: Number(row.log_count ?? 0),
    };
  }
  return {
    id: row.trace_id,
    startMs: Number(BigInt(row.start_time_unix_nano) / 1000000n),
    durationMs: Number(row.duration_ms),
    root: `${row.root_service}: ${row.root_name}`,
    services: row.services ?? [],
    spans: row.span_count,
    error: Number(row.error_count) > 0,
    logs: Number(row.log_count ?? 0),
  };
}
