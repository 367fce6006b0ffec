// An alarm status widget: the state of each listed alarm.
import { useEffect, useState } from "preact/hooks";
import { api, isAbort } from "../api";
import { hasFeature } from "../features";
import { WidgetError } from "./MetricWidget";

interface Alarm {
  name: string;
  state: string;
  reason?: string;
}

export function alarmName(arn: string): string {
  const m = /:alarm:(.+)$/.exec(arn);
  return m ? m[1] : arn;
}

export function AlarmWidget({ properties, refresh }: { properties: Record<string, any>; refresh: number }) {
  const names: string[] = (properties.alarms ?? []).map(alarmName);
  const [state, setState] = useState<{ alarms?: Alarm[]; error?: string; missing?: boolean }>({});
  useEffect(() => {
    if (!hasFeature("alarms")) {
      setState({ missing: true });
      return;
    }
    const ac = new AbortController();
    const q = names.map((n) => `name=${encodeURIComponent(n)}`).join("&");
    api<{ alarms: Alarm[] }>(`/api/v1/alarms?${q}`, { signal: ac.signal })
      .then((r) => setState({ alarms: r.alarms }))
      .catch((e) => {
        if (!isAbort(e)) setState({ error: e.message });
      });
    return () => ac.abort();
  }, [names.join("\n"), refresh]);
  if (state.error) return <WidgetError message={state.error} />;
  const by = new Map((state.alarms ?? []).map((a) => [a.name, a]));
  return (
    <ul class="alarm-list">
      {names.map((n) => {
        const a = by.get(n);
        const s = state.missing ? "UNKNOWN" : a?.state ?? (state.alarms ? "NOT FOUND" : "…");
        return (
          <li key={n} class={`alarm alarm-${s.toLowerCase().replace(/\s+/g, "-")}`}>
            <span class="alarm-state">{s}</span>{" "}
            <a class="alarm-name" href={`/alarms/${encodeURIComponent(n)}`}>
              {n}
            </a>
          </li>
        );
      })}
      {state.missing ? <li class="muted">Alarm states are not available on this server.</li> : null}
    </ul>
  );
}
