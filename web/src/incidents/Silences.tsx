// Silences and maintenance windows: one-off (from/to) or recurring (cron + duration),
// matching notifications by labels (alarm name, severity, …); add and expire.
import { useEffect, useState } from "preact/hooks";
import { api, isAbort } from "../api";
import { formatTime } from "../time";
import { Silence } from "./api";

function parseMatchers(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of text.split(",")) {
    const [k, ...v] = part.split("=");
    if (k.trim() && v.length) out[k.trim()] = v.join("=").trim();
  }
  return out;
}

export function Silences({ tz }: { tz: string }) {
  const [list, setList] = useState<Silence[] | null>(null);
  const [tick, setTick] = useState(0);
  const [error, setError] = useState<string | null>(null);
  const [form, setForm] = useState({ matchers: "", kind: "once", hours: "2", cron: "0 2 * * SUN", duration: "3600", comment: "" });
  useEffect(() => {
    const ac = new AbortController();
    api<{ silences: Silence[] }>("/api/v1/silences", { signal: ac.signal })
      .then((r) => setList(r.silences))
      .catch((e) => !isAbort(e) && setError(e.message));
    return () => ac.abort();
  }, [tick]);
  const add = async () => {
    setError(null);
    const matchers = parseMatchers(form.matchers);
    const now = Date.now() / 1000;
    const spec: Record<string, unknown> =
      form.kind === "once"
        ? { matchers, starts: now, ends: now + Number(form.hours) * 3600, comment: form.comment }
        : { matchers, cron: form.cron, duration: Number(form.duration), comment: form.comment };
    try {
      await api("/api/v1/silences", { method: "POST", body: spec });
      setTick((x) => x + 1);
    } catch (e) {
      setError(e instanceof Error ? e.message : String(e));
    }
  };
  const expire = async (id: string) => {
    await api(`/api/v1/silences/${encodeURIComponent(id)}`, { method: "DELETE" });
    setTick((x) => x + 1);
  };
  const set = (k: keyof typeof form) => (e: Event) => setForm({ ...form, [k]: (e.target as HTMLInputElement).value });
  return (
    <section aria-label="Silences and maintenance windows">
      <h2>Silences and maintenance windows</h2>
      {list === null ? <p class="muted">Loading…</p> : null}
      {list && !list.length ? <p class="muted">Nothing is silenced.</p> : null}
      {list?.length ? (
        <table class="data-table">
          <thead>
            <tr>
              <th>Matches</th>
              <th>When</th>
              <th>Comment</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {list.map((s) => (
              <tr key={s.id}>
                <td>
                  {Object.entries(s.matchers)
                    .map(([k, v]) => `${k}=${v}`)
                    .join(", ")}
                </td>
                <td>
                  {s.cron
                    ? `every "${s.cron}" for ${Math.round((s.duration ?? 0) / 60)} min (${s.time_zone})`
                    : `${s.starts ? formatTime(s.starts * 1000, tz) : "now"} → ${s.ends ? formatTime(s.ends * 1000, tz) : "forever"}`}
                </td>
                <td>{s.comment}</td>
                <td>
                  <button type="button" class="small" onClick={() => void expire(s.id)}>
                    Expire
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : null}
      <form
        class="inline-fields silence-form"
        onSubmit={(e) => {
          e.preventDefault();
          void add();
        }}
      >
        <label>
          Matchers
          <input required value={form.matchers} onInput={set("matchers")} placeholder="alarm=high-cpu, severity=warning" />
        </label>
        <label>
          Kind
          <select value={form.kind} onChange={set("kind")}>
            <option value="once">Silence (from now)</option>
            <option value="recurring">Maintenance window (recurring)</option>
          </select>
        </label>
        {form.kind === "once" ? (
          <label>
            Hours
            <input type="number" min="0.1" step="0.1" value={form.hours} onInput={set("hours")} />
          </label>
        ) : (
          <>
            <label>
              Cron
              <input value={form.cron} onInput={set("cron")} />
            </label>
            <label>
              Duration (s)
              <input type="number" min="60" value={form.duration} onInput={set("duration")} />
            </label>
          </>
        )}
        <label>
          Comment
          <input value={form.comment} onInput={set("comment")} />
        </label>
        <button type="submit">Add silence</button>
      </form>
      {error ? (
        <div class="widget-error" role="alert">
          {error}
        </div>
      ) : null}
    </section>
  );
}

/** Who is on call now, per schedule. */
export function OnCall() {
  const [rows, setRows] = useState<[string, string | null][] | null>(null);
  useEffect(() => {
    const ac = new AbortController();
    (async () => {
      const r = await api<{ schedules: Record<string, unknown> }>("/api/v1/schedules", { signal: ac.signal });
      const names = Object.keys(r.schedules).sort();
      const who = await Promise.all(
        names.map((n) =>
          api<{ on_call: string | null }>(`/api/v1/schedules/${encodeURIComponent(n)}/oncall`, { signal: ac.signal }).then(
            (x) => [n, x.on_call] as [string, string | null],
          ),
        ),
      );
      setRows(who);
    })().catch((e) => !isAbort(e) && setRows([]));
    return () => ac.abort();
  }, []);
  return (
    <section aria-label="On call now">
      <h2>On call now</h2>
      {rows === null ? (
        <p class="muted">Loading…</p>
      ) : rows.length === 0 ? (
        <p class="muted">No on-call schedules (PUT /api/v1/schedules/NAME).</p>
      ) : (
        <ul class="oncall">
          {rows.map(([n, who]) => (
            <li key={n}>
              <strong>{n}</strong>: {who ?? "nobody"}
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}
