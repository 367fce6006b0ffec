// The CloudWatch Logs API (AWS JSON 1.1 protocol) from the page: POST / with X-Amz-Target,
// authorised with the same API key as /api/v1 (vigil's front door takes a Bearer key).
import { ApiError } from "../api";

export async function awsJson<T>(target: string, body: unknown, signal?: AbortSignal): Promise<T> {
  const headers: Record<string, string> = {
    "Content-Type": "application/x-amz-json-1.1",
    "X-Amz-Target": target,
  };
  const key = localStorage.getItem("vigil.apiKey");
  if (key) headers["Authorization"] = `Bearer ${key}`;
  const res = await fetch("/", { method: "POST", headers, body: JSON.stringify(body), signal });
  const text = await res.text();
  let data: any = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  if (!res.ok) {
    if (res.status === 401 || res.status === 403) window.dispatchEvent(new Event("vigil:unauthorized"));
    const code = String(data?.__type ?? "error").split("#").pop()!;
    throw new ApiError(res.status, code, data?.message ?? data?.Message ?? `${res.status}`);
  }
  return data as T;
}

export const logsApi = <T>(op: string, body: unknown, signal?: AbortSignal) =>
  awsJson<T>(`Logs_20140328.${op}`, body, signal);
