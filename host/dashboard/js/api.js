// The REST API client: the JWT lives in localStorage; every error arrives as an ApiError
// carrying the envelope's code, message and details; a 401 ends the session.

const TOKEN = 'storeplane.token';
const base = '/api/v1';
let onUnauthorized = () => {};
// Server clock minus this browser's, learnt from the `Date` header of each answer (to about a
// second), so that times the server records (a step's start) read the same everywhere.
let clockOffsetMs = 0;

/** Now, by the server's clock. */
export function serverNow() {
  return Date.now() + clockOffsetMs;
}

export class ApiError extends Error {
  constructor(status, body, retryAfter) {
    const error = (body && body.error) || {};
    super(error.message || `request failed (${status})`);
    this.status = status;
    this.code = error.code || 'ERROR';
    this.details = error.details;
    this.requestId = body && body.requestId;
    this.retryAfter = retryAfter ? Number(retryAfter) : undefined;
  }
}

export function token() {
  return localStorage.getItem(TOKEN);
}

export function setToken(value) {
  if (value) localStorage.setItem(TOKEN, value);
  else localStorage.removeItem(TOKEN);
}

/** Seconds until the token expires (from its `exp` claim); 0 when absent or unreadable. */
export function tokenSecondsLeft() {
  const t = token();
  if (!t) return 0;
  try {
    const payload = JSON.parse(atob(t.split('.')[1].replace(/-/g, '+').replace(/_/g, '/')));
    return Math.max(0, payload.exp - Date.now() / 1000);
  } catch {
    return 0;
  }
}

/** Called when the API says the session is over. */
export function whenUnauthorized(handler) {
  onUnauthorized = handler;
}

export async function request(method, path, { body, raw, contentType } = {}) {
  const headers = {};
  const t = token();
  if (t) headers.authorization = `Bearer ${t}`;
  let payload;
  if (raw !== undefined) {
    payload = raw;
    headers['content-type'] = contentType || 'application/octet-stream';
  } else if (body !== undefined) {
    payload = JSON.stringify(body);
    headers['content-type'] = 'application/json';
  }
  const response = await fetch(base + path, { method, headers, body: payload });
  const serverDate = Date.parse(response.headers.get('date') || '');
  // The header is truncated to the second: its middle is the best guess.
  if (!Number.isNaN(serverDate)) clockOffsetMs = serverDate + 500 - Date.now();
  const text = await response.text();
  let json = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    json = null;
  }
  if (!response.ok) {
    const error = new ApiError(response.status, json, response.headers.get('retry-after'));
    if (response.status === 401 && t && !path.startsWith('/auth/login')) onUnauthorized(error);
    throw error;
  }
  return json;
}

export const get = (path) => request('GET', path);
export const post = (path, body = {}) => request('POST', path, { body });
export const del = (path) => request('DELETE', path);

/** An EventSource on `path` (an events endpoint), authenticated by a fresh ticket, that
 * reconnects with a new ticket when the server ends it (unless `once`: a stream that ends
 * when there is nothing more to say). `onData(data)` gets the parsed data of every `name`
 * event. Returns a function that closes it. */
export function liveEvents(path, name, onData, { once = false } = {}) {
  let source = null;
  let closed = false;
  let retry = null;
  const open = async () => {
    if (closed) return;
    try {
      const { ticket } = await post('/auth/ticket');
      if (closed) return;
      source = new EventSource(`${base}${path}?ticket=${encodeURIComponent(ticket)}`);
      source.addEventListener(name, (event) => onData(JSON.parse(event.data)));
      source.onerror = () => {
        if (once) {
          source.close();
          return;
        }
        if (source.readyState === EventSource.CLOSED && !closed) retry = setTimeout(open, 2000);
      };
    } catch {
      if (!closed) retry = setTimeout(open, 5000);
    }
  };
  open();
  return () => {
    closed = true;
    clearTimeout(retry);
    if (source) source.close();
  };
}

/** Every `store` event of a store events endpoint (see `liveEvents`). */
export function liveStores(path, onStore) {
  return liveEvents(path, 'store', onStore);
}
