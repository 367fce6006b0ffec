// X-Ray's API from the page (REST JSON, the same Bearer key as /api/v1): BatchGetTraces for
// the annotations and metadata of a trace's segment documents.
import { ApiError } from "../api";
import { xrayId } from "./model";
import { XrayDoc } from "./SpanDetails";

async function xray<T>(path: string, body: unknown, signal?: AbortSignal): Promise<T> {
  const headers: Record<string, string> = { "Content-Type": "application/json", "smithy-protocol": "rest-json-1.0" };
  const key = localStorage.getItem("vigil.apiKey");
  if (key) headers["Authorization"] = `Bearer ${key}`;
  const res = await fetch(path, { method: "POST", headers, body: JSON.stringify(body), signal });
  const data = await res.json().catch(() => null);
  if (!res.ok) throw new ApiError(res.status, "xray", data?.message ?? data?.Message ?? `${res.status}`);
  return data as T;
}

/** span id → the annotations and metadata its segment or subsegment document carries. */
export async function annotations(traceId: string, signal?: AbortSignal): Promise<Map<string, XrayDoc>> {
  const out = new Map<string, XrayDoc>();
  const r = await xray<{ Traces: { Segments: { Id: string; Document: string }[] }[] }>(
    "/Traces",
    { TraceIds: [xrayId(traceId)] },
    signal,
  );
  const visit = (doc: any) => {
    if (!doc || typeof doc !== "object") return;
    if (typeof doc.id === "string" && (doc.annotations || doc.metadata))
      out.set(doc.id.toLowerCase(), { annotations: doc.annotations, metadata: doc.metadata });
    for (const sub of doc.subsegments ?? []) visit(sub);
  };
  for (const t of r.Traces ?? []) for (const s of t.Segments ?? []) {
    try {
      visit(JSON.parse(s.Document));
    } catch {
      // A document that is not JSON carries nothing to show.
    }
  }
  return out;
}
