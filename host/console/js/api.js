// The console and the tenant portal are clients of the public API: every action is a
// `/v1/...` call with the signed-in user's bearer token, under the same authorization,
// validation, audit and maintenance rules as curl. The token lives in this tab's
// sessionStorage only, apart for each site (the portal serves this same file under /app).

const SITE = location.pathname.startsWith("/app") ? "portal" : "console";
const TOKEN = `nova.${SITE}.token`;
const WHO = `nova.${SITE}.who`;

/** An error answer in the API's standard shape. */
export class ApiError extends Error {
  constructor(status, body) {
    const e = (body && body.error) || {};
    super(e.message || `the server answered ${status}`);
    this.status = status;
    this.code = e.code || `HTTP_${status}`;
    this.requestId = e.requestId;
    this.field = e.field;
  }
}

export const session = {
  token: () => sessionStorage.getItem(TOKEN),
  who: () => sessionStorage.getItem(WHO),
  start(token, email) {
    sessionStorage.setItem(TOKEN, token);
    sessionStorage.setItem(WHO, email);
  },
  end() {
    sessionStorage.removeItem(TOKEN);
    sessionStorage.removeItem(WHO);
  },
};

/** Called when the API refuses the token (expired or revoked). */
let onExpired = () => {};
export function whenExpired(f) {
  onExpired = f;
}

/** Call the API; resolves to the JSON body, rejects with an `ApiError`. */
export async function api(method, path, body) {
  const headers = { accept: "application/json" };
  const token = session.token();
  if (token) headers.authorization = `Bearer ${token}`;
  // Bytes (a component to install) go as they are; anything else as JSON.
  const raw = body instanceof Blob || body instanceof ArrayBuffer;
  if (body !== undefined) headers["content-type"] = raw ? "application/octet-stream" : "application/json";
  let resp;
  try {
    resp = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : raw ? body : JSON.stringify(body),
      credentials: "omit",
    });
  } catch (e) {
    throw new ApiError(0, { error: { code: "NETWORK", message: `the server did not answer: ${e.message}` } });
  }
  const text = await resp.text();
  let json = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    json = null;
  }
  if (!resp.ok) {
    const err = new ApiError(resp.status, json);
    if (resp.status === 401 && token) {
      session.end();
      onExpired(err);
    }
    throw err;
  }
  return json;
}

/** `path?k=v…`, leaving out empty values. */
export function withQuery(path, params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v !== undefined && v !== null && v !== "") q.set(k, v);
  }
  const s = q.toString();
  return s ? `${path}?${s}` : path;
}

/** GET `path` as bytes and hand them to the browser as the file `name` (a bundle to save). */
export async function download(path, name) {
  const headers = {};
  const token = session.token();
  if (token) headers.authorization = `Bearer ${token}`;
  const resp = await fetch(path, { headers, credentials: "omit" });
  if (!resp.ok) {
    let json = null;
    try {
      json = await resp.json();
    } catch {
      json = null;
    }
    throw new ApiError(resp.status, json);
  }
  const url = URL.createObjectURL(await resp.blob());
  const a = document.createElement("a");
  a.href = url;
  a.download = name;
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}
