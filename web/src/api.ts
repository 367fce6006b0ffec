// The only way the UI talks to vigil: JSON over /api/v1 (same origin, no CDN).

export class ApiError extends Error {
  constructor(
    public status: number,
    public code: string,
    message: string,
    public details: Record<string, unknown> = {},
  ) {
    super(message);
  }
}

const KEY_STORE = "vigil.apiKey";

function headers(extra: Record<string, string> = {}): Record<string, string> {
  const h: Record<string, string> = { ...extra };
  const key = localStorage.getItem(KEY_STORE);
  if (key) h["Authorization"] = `Bearer ${key}`;
  return h;
}

export function setApiKey(key: string): void {
  localStorage.setItem(KEY_STORE, key);
}

export async function api<T>(
  path: string,
  init: { method?: string; body?: unknown; signal?: AbortSignal } = {},
): Promise<T> {
  const res = await fetch(path, {
    method: init.method ?? "GET",
    headers: headers(init.body !== undefined ? { "Content-Type": "application/json" } : {}),
    body:
      init.body === undefined
        ? undefined
        : typeof init.body === "string"
          ? init.body
          : JSON.stringify(init.body),
    signal: init.signal,
  });
  const text = await res.text();
  let data: any = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  if (!res.ok) {
    // The server wants an API key: the shell asks for one.
    if (res.status === 401) window.dispatchEvent(new Event("vigil:unauthorized"));
    const err = data?.error ?? {};
    throw new ApiError(
      res.status,
      err.code ?? "http_error",
      err.message ?? `${res.status} ${res.statusText}`,
      err,
    );
  }
  return data as T;
}

export function isAbort(e: unknown): boolean {
  return e instanceof DOMException && e.name === "AbortError";
}

/** A POST whose answer is binary (e.g. application/vnd.vigil.columns): its bytes, or the
 *  same ApiError as ``api`` when the server refuses. */
export async function apiBytes(
  path: string,
  init: { body: unknown; accept: string; signal?: AbortSignal },
): Promise<ArrayBuffer> {
  const res = await fetch(path, {
    method: "POST",
    headers: headers({ "Content-Type": "application/json", Accept: init.accept }),
    body: JSON.stringify(init.body),
    signal: init.signal,
  });
  if (res.ok) return res.arrayBuffer();
  if (res.status === 401) window.dispatchEvent(new Event("vigil:unauthorized"));
  let err: any = {};
  try {
    err = (await res.json())?.error ?? {};
  } catch {
    err = {};
  }
  throw new ApiError(res.status, err.code ?? "http_error", err.message ?? `${res.status} ${res.statusText}`, err);
}
