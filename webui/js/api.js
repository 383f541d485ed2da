// The API client: JSON in and out, errors as ApiError, tokens kept out of URLs, silent refresh.
//
// Where the tokens live, and why:
// - The access token (15 minutes) is kept in memory only: it never touches storage, a URL or a cookie.
// - The refresh token (7 days, rotated on every use, reuse revokes its family) is kept in sessionStorage,
//   so a reload of the tab keeps the user signed in while closing the tab ends it. It is not in
//   localStorage (shared by every tab, kept forever) and not in a cookie (Eddy uses no cookie auth, so
//   there is no CSRF surface). sessionStorage is readable by script on this origin, which is why the
//   pages run under a CSP without inline script and render every piece of data as text.
// Each tab holds its own refresh token, so two tabs never race to rotate the same one.

const REFRESH_KEY = "eddy.refresh_token";

let accessToken = null;
let accessExpiresAt = 0;
let refreshing = null;
const listeners = new Set();

export const session = { user: null };

/** An error answer from the API: {error: {code, message, fields}} plus the status. */
export class ApiError extends Error {
  constructor(status, code, message, fields = null, retryAfter = null) {
    super(message);
    this.status = status;
    this.code = code;
    this.fields = fields;
    this.retryAfter = retryAfter;
  }
}

/** Be told when the user signs in or out: fn(user | null). */
export function onSessionChange(fn) {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

function emit() {
  for (const fn of listeners) fn(session.user);
}

function storedRefresh() {
  try {
    return sessionStorage.getItem(REFRESH_KEY);
  } catch {
    return null;
  }
}

function storeRefresh(token) {
  try {
    if (token) sessionStorage.setItem(REFRESH_KEY, token);
    else sessionStorage.removeItem(REFRESH_KEY);
  } catch {
    // storage disabled: the session lasts as long as the page
  }
}

/** Keep the tokens of a register/login/refresh answer. */
export function acceptTokens(answer) {
  accessToken = answer.access_token || null;
  accessExpiresAt = Date.now() + Math.max(0, (answer.expires_in || 900) - 30) * 1000;
  storeRefresh(answer.refresh_token || null);
  if (answer.user) session.user = answer.user;
  emit();
}

/** Forget every token (sign-out, or a refresh that failed). */
export function forgetTokens() {
  accessToken = null;
  accessExpiresAt = 0;
  storeRefresh(null);
  session.user = null;
  emit();
}

/** Whether a session can be resumed (an access or refresh token is held). */
export function hasSession() {
  return Boolean(accessToken || storedRefresh());
}

/** Trade the refresh token for a new pair, once at a time; resolves true when it worked. */
export function refresh() {
  if (!refreshing) {
    refreshing = (async () => {
      const token = storedRefresh();
      if (!token) return false;
      try {
        const answer = await request("POST", "/api/v1/auth/refresh", { refresh_token: token }, { auth: false });
        acceptTokens(answer);
        return true;
      } catch (error) {
        // A network failure keeps the token for a later try; a refusal ends the session.
        if (error instanceof ApiError && error.status > 0) forgetTokens();
        return false;
      }
    })().finally(() => {
      refreshing = null;
    });
  }
  return refreshing;
}

/** A valid access token for a websocket's first message, refreshing when it is about to expire. */
export async function freshAccessToken() {
  if (!accessToken || Date.now() >= accessExpiresAt) await refresh();
  return accessToken;
}

async function request(method, path, body, { auth = true, headers = {}, signal } = {}) {
  const init = { method, headers: { Accept: "application/json", ...headers }, signal, cache: "no-store" };
  if (body !== undefined && body !== null) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  if (auth && accessToken) init.headers.Authorization = `Bearer ${accessToken}`;
  let answer;
  try {
    answer = await fetch(path, init);
  } catch (error) {
    if (error?.name === "AbortError") throw error;
    throw new ApiError(0, "network", "Eddy could not be reached. Check your connection and try again.");
  }
  if (answer.status === 204) return null;
  const text = await answer.text();
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = null;
    }
  }
  if (!answer.ok) throw failure(answer, data);
  return data;
}

/** The ApiError for a refused answer and its decoded JSON body (if any). */
function failure(answer, data) {
  const err = data && typeof data === "object" && data.error ? data.error : {};
  const retry = answer.headers.get("Retry-After");
  let message = typeof err.message === "string" && err.message ? err.message : `Request failed (${answer.status})`;
  if (answer.status === 429 && retry) message += ` Try again in ${retry} s.`;
  return new ApiError(answer.status, err.code || "error", message, err.fields || null, retry);
}

function fetchAsUser(path) {
  const headers = accessToken ? { Authorization: `Bearer ${accessToken}` } : {};
  return fetch(path, { headers, cache: "no-store" });
}

/** Save a file the API serves (an export) as the signed-in user. The token travels in a header, never
 *  in a URL, so the file is fetched here and handed to the browser as a download. */
export async function download(path) {
  if (!accessToken && storedRefresh()) await refresh();
  let answer;
  try {
    answer = await fetchAsUser(path);
    if (answer.status === 401 && storedRefresh() && (await refresh())) answer = await fetchAsUser(path);
  } catch {
    throw new ApiError(0, "network", "Eddy could not be reached. Check your connection and try again.");
  }
  if (!answer.ok) {
    let data = null;
    try {
      data = await answer.json();
    } catch {
      data = null;
    }
    throw failure(answer, data);
  }
  const blob = await answer.blob();
  const name = /filename="([^"]+)"/.exec(answer.headers.get("Content-Disposition") || "")?.[1] || "eddy-export";
  const url = URL.createObjectURL(blob);
  const link = document.createElement("a");
  link.href = url;
  link.download = name;
  document.body.append(link);
  link.click();
  link.remove();
  // the browser has taken the file once the click is handled; free the memory a little later
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}

/** Send a file as the request body (imports) as the signed-in user, reporting the bytes sent with
 *  `onProgress(sent, total)`; resolves with the decoded answer. A 401 refreshes once and sends again. */
export async function upload(path, file, onProgress) {
  const once = async () => {
    const token = await freshAccessToken();
    return new Promise((resolve, reject) => {
      const xhr = new XMLHttpRequest();
      xhr.open("POST", path);
      xhr.setRequestHeader("Accept", "application/json");
      xhr.setRequestHeader("Content-Type", "application/octet-stream");
      if (token) xhr.setRequestHeader("Authorization", `Bearer ${token}`);
      xhr.upload.onprogress = (event) => onProgress?.(event.loaded, event.lengthComputable ? event.total : file.size);
      xhr.onerror = () => reject(new ApiError(0, "network", "Eddy could not be reached. Check your connection and try again."));
      xhr.onload = () => {
        let data = null;
        try {
          data = xhr.responseText ? JSON.parse(xhr.responseText) : null;
        } catch {
          data = null;
        }
        if (xhr.status >= 200 && xhr.status < 300) resolve(data);
        else reject(failure({ status: xhr.status, headers: { get: (name) => xhr.getResponseHeader(name) } }, data));
      };
      xhr.send(file);
    });
  };
  try {
    return await once();
  } catch (error) {
    if (error instanceof ApiError && error.status === 401 && storedRefresh() && (await refresh())) return once();
    throw error;
  }
}

/** Call the API as the signed-in user; a 401 triggers one silent refresh and a retry. */
export async function api(method, path, body, options = {}) {
  const auth = options.auth !== false;
  if (auth && !accessToken && storedRefresh()) await refresh();
  try {
    return await request(method, path, body, options);
  } catch (error) {
    if (auth && error instanceof ApiError && error.status === 401 && storedRefresh()) {
      if (await refresh()) return request(method, path, body, options);
    }
    if (auth && error instanceof ApiError && error.status === 401) forgetTokens();
    throw error;
  }
}

export const get = (path, options) => api("GET", path, null, options);
export const post = (path, body, options) => api("POST", path, body ?? {}, options);
export const patch = (path, body, options) => api("PATCH", path, body, options);
export const del = (path, options) => api("DELETE", path, null, options);

/** Call the API with a share token (read-only shared dashboards): no user session involved. */
export function shared(path, token, options = {}) {
  return request("GET", path, null, { ...options, auth: false, headers: { "X-Share-Token": token } });
}

/** Sign out: end the session on the server (best effort) and forget the tokens. */
export async function signOut() {
  const token = storedRefresh();
  forgetTokens();
  if (token) {
    try {
      await request("POST", "/api/v1/auth/logout", { refresh_token: token }, { auth: false });
    } catch {
      // the tokens are gone from this tab either way
    }
  }
}

/** Query string from an object, skipping empty values; an array value repeats its parameter. */
export function qs(params) {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value === null || value === undefined || value === "") continue;
    if (Array.isArray(value)) for (const each of value) search.append(key, String(each));
    else search.set(key, String(value));
  }
  const text = search.toString();
  return text ? `?${text}` : "";
}

/** The first array found under one of `keys` in an answer (list endpoints wrap their items). */
export function items(answer, ...keys) {
  if (Array.isArray(answer)) return answer;
  for (const key of [...keys, "items", "data", "results"]) {
    if (answer && Array.isArray(answer[key])) return answer[key];
  }
  return [];
}
