// Choosing log groups: a filterable list with each group's retention, stored size and events.
import { useEffect, useState } from "preact/hooks";
import { api, isAbort } from "../api";

export interface LogGroup {
  name: string;
  retention_days: number | null;
  stored_bytes: number;
  stored_events: number;
  streams: number;
}

export function formatBytes(n: number): string {
  const units = ["B", "KB", "MB", "GB", "TB"];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${i === 0 ? v : v.toFixed(1)} ${units[i]}`;
}

export function useLogGroups(): { groups: LogGroup[] | null; error: string | null } {
  const [groups, setGroups] = useState<LogGroup[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    const ac = new AbortController();
    api<{ log_groups: LogGroup[] }>("/api/v1/logs/groups", { signal: ac.signal })
      .then((r) => setGroups(r.log_groups))
      .catch((e) => !isAbort(e) && setError(e.message));
    return () => ac.abort();
  }, []);
  return { groups, error };
}

export function GroupPicker({
  groups,
  selected,
  onChange,
}: {
  groups: LogGroup[] | null;
  selected: string[];
  onChange: (names: string[]) => void;
}) {
  const [open, setOpen] = useState(selected.length === 0);
  const [filter, setFilter] = useState("");
  const shown = (groups ?? []).filter((g) => g.name.toLowerCase().includes(filter.toLowerCase()));
  const toggle = (name: string) =>
    onChange(selected.includes(name) ? selected.filter((n) => n !== name) : [...selected, name]);
  return (
    <div class="group-picker">
      <button type="button" aria-expanded={open} onClick={() => setOpen(!open)}>
        Log groups ({selected.length})
      </button>
      <span class="selected-groups">
        {selected.map((g) => (
          <span class="tag group-tag" key={g}>
            {g}
            <button type="button" class="icon" aria-label={`Remove ${g}`} onClick={() => toggle(g)}>
              ×
            </button>
          </span>
        ))}
      </span>
      {open ? (
        <div class="group-list" role="dialog" aria-label="Choose log groups">
          <input
            type="search"
            placeholder="Filter log groups"
            aria-label="Filter log groups"
            value={filter}
            onInput={(e) => setFilter((e.target as HTMLInputElement).value)}
          />
          {groups === null ? (
            <p class="muted">Loading log groups…</p>
          ) : shown.length === 0 ? (
            <p class="muted">No log groups{filter ? " match" : " yet"}.</p>
          ) : (
            <table class="data-table">
              <thead>
                <tr>
                  <th />
                  <th>Log group</th>
                  <th>Retention</th>
                  <th>Stored</th>
                  <th>Events</th>
                </tr>
              </thead>
              <tbody>
                {shown.map((g) => (
                  <tr key={g.name}>
                    <td>
                      <input
                        type="checkbox"
                        aria-label={g.name}
                        checked={selected.includes(g.name)}
                        onChange={() => toggle(g.name)}
                      />
                    </td>
                    <td>{g.name}</td>
                    <td>{g.retention_days ? `${g.retention_days} days` : "Never expire"}</td>
                    <td>{formatBytes(g.stored_bytes)}</td>
                    <td>{g.stored_events.toLocaleString()}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
          <button type="button" onClick={() => setOpen(false)}>
            Done
          </button>
        </div>
      ) : null}
    </div>
  );
}
