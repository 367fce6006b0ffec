// The pages of the metrics explorer, alarms and incidents, for the shell's router.
import { JSX } from "preact";
import { AlarmList } from "../pages/AlarmList";
import { AlarmView } from "../pages/AlarmView";
import { IncidentList } from "../pages/IncidentList";
import { IncidentView } from "../pages/IncidentView";
import { MetricsExplorer } from "../pages/MetricsExplorer";

export function alarmPages(path: string, query: URLSearchParams): JSX.Element | null {
  if (path === "/metrics" || path === "/metrics/") return <MetricsExplorer query={query} />;
  if (path === "/alarms" || path === "/alarms/") return <AlarmList query={query} />;
  const alarm = /^\/alarms\/(.+?)\/?$/.exec(path);
  if (alarm) return <AlarmView name={decodeURIComponent(alarm[1])} query={query} key={alarm[1]} />;
  if (path === "/incidents" || path === "/incidents/") return <IncidentList query={query} />;
  const inc = /^\/incidents\/([^/]+)\/?$/.exec(path);
  if (inc) return <IncidentView id={decodeURIComponent(inc[1])} query={query} key={inc[1]} />;
  return null;
}
