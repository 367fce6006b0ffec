// "Edit JSON": the dashboard body in a CodeMirror editor; Save validates on the server
// (PutDashboard's rules) and shows each message with its path; nothing is saved on error.
import { lazy, Suspense } from "preact/compat";
import { useState } from "preact/hooks";
import { api, ApiError } from "../api";
import { DashboardBody } from "../widgets/types";

const JsonEditor = lazy(() => import("./JsonEditor"));

interface Message {
  DataPath: string;
  Message: string;
}

export function DashboardEditor({
  name,
  body,
  onSaved,
  onClose,
}: {
  name: string;
  body: DashboardBody;
  onSaved: (body: DashboardBody) => void;
  onClose: () => void;
}) {
  const [text, setText] = useState(() => JSON.stringify(body, null, 2));
  const [messages, setMessages] = useState<Message[]>([]);
  const [error, setError] = useState<string | null>(null);
  const [saving, setSaving] = useState(false);
  const save = async () => {
    setSaving(true);
    setError(null);
    setMessages([]);
    try {
      await api(`/api/v1/dashboards/${encodeURIComponent(name)}`, { method: "PUT", body: text });
      onSaved(JSON.parse(text));
    } catch (e) {
      if (e instanceof ApiError) {
        setError(e.message);
        setMessages((e.details.messages as Message[] | undefined) ?? []);
      } else setError(String(e));
    } finally {
      setSaving(false);
    }
  };
  return (
    <div class="editor-panel" role="dialog" aria-label="Edit dashboard JSON">
      <Suspense fallback={<p class="muted">Loading editor…</p>}>
        <JsonEditor value={text} label="Dashboard body" onChange={setText} />
      </Suspense>
      {error ? (
        <div class="widget-error" role="alert">
          <p>{error}</p>
          {messages.length ? (
            <ul class="validation-messages">
              {messages.map((m, i) => (
                <li key={i}>
                  <code>{m.DataPath || "/"}</code>: {m.Message}
                </li>
              ))}
            </ul>
          ) : null}
        </div>
      ) : null}
      <div class="editor-actions">
        <button type="button" onClick={save} disabled={saving}>
          Save
        </button>
        <button type="button" onClick={onClose}>
          Cancel
        </button>
      </div>
    </div>
  );
}
