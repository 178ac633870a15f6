// What every console page shares: the signed-in key, calls to the JSON API, the sign-in form,
// building elements (text only, never HTML from data), severity badges and times.
//
// The key lives in sessionStorage: it is sent only where this code puts it (the Authorization
// header of a same-origin call), never in an address, and it is gone when the tab closes.

const KEY = "cargowatch.key";
export const SEVERITY_RANK = { info: 0, warning: 1, critical: 2 };
// A shape as well as a colour, so severity reads without colour vision.
const SEVERITY_MARK = { info: "●", warning: "▲", critical: "■" };

export class ApiError extends Error {
  constructor(status, detail) {
    super(`${status}: ${detail}`);
    this.status = status;
    this.detail = detail;
  }
}

export function currentKey() {
  return sessionStorage.getItem(KEY);
}

export function signOut() {
  sessionStorage.removeItem(KEY);
  window.location.reload();
}

function authHeaders(extra = {}) {
  return { Authorization: `Bearer ${currentKey()}`, ...extra };
}

function detailText(body, status) {
  if (body && typeof body.detail === "string") return body.detail;
  if (body && Array.isArray(body.detail)) {
    return body.detail.map((d) => `${(d.loc || []).slice(1).join(".")}: ${d.msg}`).join("; ");
  }
  return `HTTP ${status}`;
}

/** Call the API with the signed-in key; resolves to the JSON body, rejects with ApiError. */
export async function api(path, { method = "GET", body } = {}) {
  const headers = authHeaders({ Accept: "application/json" });
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    cache: "no-store",
  });
  const data = await response.json().catch(() => null);
  if (!response.ok) throw new ApiError(response.status, detailText(data, response.status));
  return data;
}

/** Build an element: attrs are attributes (class, href, ...), children strings or nodes. */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === false || value === null || value === undefined) continue;
    node.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

export function severityBadge(severity) {
  return el(
    "span",
    { class: `sev sev-${severity}` },
    el("span", { "aria-hidden": "true" }, SEVERITY_MARK[severity] || "?"),
    ` ${severity}`,
  );
}

export function stateBadge(state) {
  return el("span", { class: `state state-${state}` }, state);
}

export function when(iso) {
  if (!iso) return "–";
  const at = new Date(iso);
  return at.toISOString().replace("T", " ").slice(0, 16) + " UTC";
}

export function shipmentHref(shipmentId, organisation) {
  const base = `/console/shipments/${encodeURIComponent(shipmentId)}`;
  return organisation ? `${base}?organisation=${encodeURIComponent(organisation)}` : base;
}

export function showError(node, error) {
  node.textContent = error instanceof ApiError ? error.detail : String(error);
  node.hidden = false;
}

/** Show the sign-in form until a key the API accepts is given, then run `render(session)`. */
export async function start(render) {
  const panel = document.getElementById("signin-panel");
  const main = document.getElementById("main");
  const form = document.getElementById("signin");
  const error = document.getElementById("signin-error");
  const who = document.getElementById("who");
  const out = document.getElementById("signout");
  out.addEventListener("click", signOut);

  let signingIn = false;
  async function enter() {
    let session;
    try {
      session = await api("/console/session");
    } catch (e) {
      sessionStorage.removeItem(KEY);
      panel.hidden = false;
      main.hidden = true;
      if (e instanceof ApiError && e.status === 401) {
        error.textContent = "That key was not accepted: it is unknown, revoked or mistyped.";
      } else {
        showError(error, e);
      }
      error.hidden = false;
      document.getElementById("key").focus();
      return;
    }
    panel.hidden = true;
    main.hidden = false;
    who.textContent = `${session.key_name} · ${session.role} · ${session.organisation}`;
    who.hidden = false;
    out.hidden = false;
    document.body.dataset.role = session.role;
    await render(session);
    if (signingIn) {
      // The sign-in form the focus was on is gone: put it on the page's heading instead.
      const heading = main.querySelector("h1");
      heading.setAttribute("tabindex", "-1");
      heading.focus();
    }
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const input = document.getElementById("key");
    const given = input.value.trim();
    if (!given) return;
    sessionStorage.setItem(KEY, given);
    input.value = "";
    error.hidden = true;
    signingIn = true;
    enter();
  });
  if (currentKey()) {
    await enter();
  } else {
    panel.hidden = false;
    document.getElementById("key").focus();
  }
}

/**
 * Read a Server-Sent Events stream through fetch, so the key goes in a header (EventSource
 * cannot send one). Reconnects after the server's `retry:` with Last-Event-ID, like
 * EventSource. `onOpen` runs on each (re)connection, `onEvent({id, data})` per event.
 */
export async function readStream(path, { onEvent, onOpen, onStatus, signal }) {
  let lastId = null;
  let retryMs = 2000;
  while (!signal.aborted) {
    try {
      const headers = authHeaders({ Accept: "text/event-stream" });
      if (lastId !== null) headers["Last-Event-ID"] = lastId;
      const response = await fetch(path, { headers, signal, cache: "no-store" });
      if (response.status === 401) {
        signOut();
        return;
      }
      if (!response.ok) throw new ApiError(response.status, "stream refused");
      onStatus("live");
      await onOpen();
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = "";
      let data = [];
      let id = null;
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += value;
        let newline;
        while ((newline = buffer.indexOf("\n")) >= 0) {
          const line = buffer.slice(0, newline).replace(/\r$/, "");
          buffer = buffer.slice(newline + 1);
          if (line === "") {
            if (id !== null) lastId = id;
            if (data.length) onEvent({ id, data: data.join("\n") });
            data = [];
            id = null;
          } else if (!line.startsWith(":")) {
            const colon = line.indexOf(":");
            const field = colon < 0 ? line : line.slice(0, colon);
            let text = colon < 0 ? "" : line.slice(colon + 1);
            if (text.startsWith(" ")) text = text.slice(1);
            if (field === "data") data.push(text);
            else if (field === "id") id = text;
            else if (field === "retry" && /^\d+$/.test(text)) retryMs = Number(text);
          }
        }
      }
    } catch (e) {
      if (signal.aborted) return;
    }
    onStatus("reconnecting");
    await new Promise((resolve) => setTimeout(resolve, retryMs));
  }
}
