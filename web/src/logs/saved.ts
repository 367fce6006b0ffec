// Saved queries (CloudWatch Logs query definitions) and this browser's query history.
import { logsApi } from "./aws";

export interface QueryDefinition {
  queryDefinitionId: string;
  name: string;
  queryString: string;
  logGroupNames?: string[];
}

export async function listSaved(): Promise<QueryDefinition[]> {
  const r = await logsApi<{ queryDefinitions: QueryDefinition[] }>("DescribeQueryDefinitions", { maxResults: 1000 });
  return r.queryDefinitions ?? [];
}

export async function saveQuery(name: string, queryString: string, logGroupNames: string[], id?: string): Promise<string> {
  const body: Record<string, unknown> = { name, queryString, logGroupNames };
  if (id) body.queryDefinitionId = id;
  const r = await logsApi<{ queryDefinitionId: string }>("PutQueryDefinition", body);
  return r.queryDefinitionId;
}

export interface HistoryItem {
  query: string;
  groups: string[];
  at: number;
}

const HISTORY_KEY = "vigil.logs.history";

export function loadHistory(): HistoryItem[] {
  try {
    const v = JSON.parse(localStorage.getItem(HISTORY_KEY) ?? "[]");
    return Array.isArray(v) ? v : [];
  } catch {
    return [];
  }
}

export function remember(item: HistoryItem): HistoryItem[] {
  const rest = loadHistory().filter((h) => !(h.query === item.query && h.groups.join() === item.groups.join()));
  const next = [item, ...rest].slice(0, 50);
  localStorage.setItem(HISTORY_KEY, JSON.stringify(next));
  return next;
}
