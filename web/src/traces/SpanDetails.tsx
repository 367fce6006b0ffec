// One span's details: timing, status, attributes, resource, events, exceptions, links, and
// X-Ray annotations and metadata (from BatchGetTraces' segment documents).
import { JsonTree } from "../logs/JsonTree";
import { formatTime } from "../time";
import { SpanJson } from "./model";
import { formatMs } from "./Waterfall";

function Attrs({ title, values }: { title: string; values: Record<string, unknown> | undefined }) {
  const entries = Object.entries(values ?? {});
  if (!entries.length) return null;
  return (
    <section>
      <h3>{title}</h3>
      <table class="kv">
        <tbody>
          {entries.map(([k, v]) => (
            <tr key={k}>
              <th>{k}</th>
              <td>{typeof v === "object" ? JSON.stringify(v) : String(v)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}

export interface XrayDoc {
  annotations?: Record<string, unknown>;
  metadata?: Record<string, unknown>;
}

export function SpanDetails({
  span,
  tz,
  xray,
  critical,
  onClose,
}: {
  span: SpanJson;
  tz: string;
  xray: XrayDoc | null | undefined;
  critical: boolean;
  onClose: () => void;
}) {
  const exceptions = span.events.filter((e) => e.name === "exception");
  const events = span.events.filter((e) => e.name !== "exception");
  const startMs = Number(BigInt(span.start_time_unix_nano) / 1000000n);
  return (
    <aside class="span-details" aria-label="Span details">
      <header>
        <h2>{span.name}</h2>
        <button type="button" class="icon" aria-label="Close span details" onClick={onClose}>
          ✕
        </button>
      </header>
      <table class="kv">
        <tbody>
          <tr>
            <th>Service</th>
            <td>{span.service}</td>
          </tr>
          <tr>
            <th>Duration</th>
            <td>
              {formatMs(span.duration_ms)} {critical ? <span class="tag critical-tag">critical path</span> : null}
            </td>
          </tr>
          <tr>
            <th>Start</th>
            <td>
              {formatTime(startMs, tz)} (+{formatMs(span.offset_ms)})
            </td>
          </tr>
          <tr>
            <th>Kind</th>
            <td>{span.kind}</td>
          </tr>
          <tr>
            <th>Status</th>
            <td class={span.status.code === "error" ? "status-error" : ""}>
              {span.status.code}
              {span.status.message ? `: ${span.status.message}` : ""}
            </td>
          </tr>
          <tr>
            <th>Span id</th>
            <td>{span.span_id}</td>
          </tr>
        </tbody>
      </table>
      {exceptions.length ? (
        <section>
          <h3>Exceptions</h3>
          {exceptions.map((e, i) => (
            <div class="exception" key={i}>
              <strong>{String(e.attributes["exception.type"] ?? "exception")}</strong>: {String(e.attributes["exception.message"] ?? "")}
              {e.attributes["exception.stacktrace"] ? <pre>{String(e.attributes["exception.stacktrace"])}</pre> : null}
            </div>
          ))}
        </section>
      ) : null}
      <Attrs title="Attributes" values={span.attributes} />
      {xray === undefined ? <p class="muted">Loading annotations…</p> : null}
      {xray?.annotations && Object.keys(xray.annotations).length ? <Attrs title="Annotations" values={xray.annotations} /> : null}
      {xray?.metadata && Object.keys(xray.metadata).length ? (
        <section>
          <h3>Metadata</h3>
          <JsonTree value={xray.metadata} />
        </section>
      ) : null}
      {events.length ? (
        <section>
          <h3>Events</h3>
          <ul class="span-events">
            {events.map((e, i) => (
              <li key={i}>
                <strong>{e.name}</strong>{" "}
                {e.time_unix_nano ? <span class="muted">+{formatMs(Number(BigInt(e.time_unix_nano) / 1000n) / 1000 - startMs)}</span> : null}
                {Object.keys(e.attributes).length ? <JsonTree value={e.attributes} open={false} /> : null}
              </li>
            ))}
          </ul>
        </section>
      ) : null}
      {span.links.length ? (
        <section>
          <h3>Links</h3>
          <ul>
            {span.links.map((l, i) => (
              <li key={i}>
                <a href={`/traces/${l.trace_id}`}>{l.trace_id}</a> <span class="muted">span {l.span_id}</span>
              </li>
            ))}
          </ul>
        </section>
      ) : null}
      <Attrs title="Resource" values={span.resource} />
      {span.scope.name ? (
        <p class="muted">
          Scope: {span.scope.name} {span.scope.version}
        </p>
      ) : null}
    </aside>
  );
}
