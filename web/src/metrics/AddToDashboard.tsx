// "Add to dashboard": the explorer's graph as a metric widget, appended to an existing
// dashboard or to a new one (the same widget JSON CloudWatch dashboards hold).
import { useEffect, useState } from "preact/hooks";
import { api, ApiError } from "../api";

interface Props {
  widget: Record<string, any>; // properties of a metric widget
  onClose: () => void;
}

export function AddToDashboard({ widget, onClose }: Props) {
  const [names, setNames] = useState<string[] | null>(null);
  const [target, setTarget] = useState("");
  const [fresh, setFresh] = useState("");
  const [title, setTitle] = useState(widget.title ?? "");
  const [status, setStatus] = useState<{ error?: string; done?: string }>({});
  useEffect(() => {
    api<{ dashboards: { name: string }[] }>("/api/v1/dashboards")
      .then((r) => {
        setNames(r.dashboards.map((d) => d.name));
        if (r.dashboards.length) setTarget(r.dashboards[0].name);
      })
      .catch((e) => setStatus({ error: e.message }));
  }, []);
  const save = async () => {
    const name = (target === "" ? fresh : target).trim();
    if (!name) {
      setStatus({ error: "Choose a dashboard or name a new one." });
      return;
    }
    try {
      let body: { widgets: any[] } = { widgets: [] };
      if (target !== "") body = (await api<{ body: { widgets: any[] } }>(`/api/v1/dashboards/${encodeURIComponent(name)}`)).body;
      const bottom = Math.max(0, ...body.widgets.map((w) => (w.y ?? 0) + (w.height ?? 6)));
      body.widgets.push({
        type: "metric",
        x: 0,
        y: bottom,
        width: 12,
        height: 6,
        properties: { ...widget, title: title || widget.title || "Metrics" },
      });
      await api(`/api/v1/dashboards/${encodeURIComponent(name)}`, { method: "PUT", body: JSON.stringify(body) });
      setStatus({ done: name });
    } catch (e) {
      setStatus({ error: e instanceof ApiError ? e.message : String(e) });
    }
  };
  return (
    <div class="dialog" role="dialog" aria-label="Add to dashboard">
      <h2>Add to dashboard</h2>
      {status.done ? (
        <p role="status">
          Added to <a href={`/dashboards/${encodeURIComponent(status.done)}`}>{status.done}</a>.
        </p>
      ) : (
        <form
          onSubmit={(e) => {
            e.preventDefault();
            void save();
          }}
        >
          <label>
            Dashboard
            <select value={target} onChange={(e) => setTarget((e.target as HTMLSelectElement).value)}>
              {(names ?? []).map((n) => (
                <option key={n} value={n}>
                  {n}
                </option>
              ))}
              <option value="">New dashboard…</option>
            </select>
          </label>
          {target === "" ? (
            <label>
              New dashboard name
              <input value={fresh} pattern="[A-Za-z0-9_-]{1,255}" onInput={(e) => setFresh((e.target as HTMLInputElement).value)} />
            </label>
          ) : null}
          <label>
            Widget title
            <input value={title} onInput={(e) => setTitle((e.target as HTMLInputElement).value)} />
          </label>
          {status.error ? (
            <div class="widget-error" role="alert">
              {status.error}
            </div>
          ) : null}
          <div class="buttons">
            <button type="submit">Add widget</button>
            <button type="button" onClick={onClose}>
              Cancel
            </button>
          </div>
        </form>
      )}
      {status.done ? (
        <button type="button" onClick={onClose}>
          Close
        </button>
      ) : null}
    </div>
  );
}
