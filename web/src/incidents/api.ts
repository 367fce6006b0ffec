// The notify API as the incidents pages use it (/api/v1/incidents, silences, schedules).
export interface Incident {
  id: string;
  alarm: string;
  status: "open" | "acknowledged" | "resolved";
  severity: string;
  title: string;
  policy: string | null;
  step: number;
  steps: number;
  next_step_at: number | null;
  opened: number;
  acknowledged: number | null;
  acknowledged_by: string | null;
  resolved: number | null;
  history?: { at: number; kind: string; detail: string }[];
}

export interface Delivery {
  id: number;
  notification: string;
  target: string;
  channel: string;
  kind: string;
  subject: string;
  status: string;
  reason: string | null;
  attempts: { at_ms: number; outcome: string; status: string; detail: string }[];
  created: number;
  updated: number;
}

export interface Silence {
  id: string;
  matchers: Record<string, string>;
  starts: number | null;
  ends: number | null;
  cron: string | null;
  duration: number | null;
  time_zone: string;
  comment: string;
}

export const STATUSES = ["open", "acknowledged", "resolved"] as const;

export function incidentPath(id: string): string {
  return `/api/v1/incidents/${encodeURIComponent(id)}`;
}
