// The alert inbox: unresolved alerts, most severe then newest first, kept live by the alert
// stream; one alert's detail and history beside the list, with the actions the role may take.

import {
  api,
  el,
  readStream,
  severityBadge,
  shipmentHref,
  showError,
  start,
  stateBadge,
  when,
  SEVERITY_RANK,
} from "./common.js";

const alerts = new Map(); // alert_id -> AlertPublic (or AlertDetail)
let selected = null; // alert_id shown in the detail panel
let session = null;

function filters() {
  const form = document.getElementById("filters");
  return {
    kind: form.elements.kind.value,
    severity: form.elements.severity.value,
    state: form.elements.state.value,
    shipment: form.elements.shipment.value.trim(),
  };
}

function matches(alert, f) {
  if (f.kind && alert.kind !== f.kind) return false;
  if (f.severity && alert.severity !== f.severity) return false;
  if (f.shipment && alert.shipment_id !== f.shipment) return false;
  if (f.state === "unresolved") return alert.state !== "resolved";
  return !f.state || alert.state === f.state;
}

function ordered() {
  const f = filters();
  return [...alerts.values()]
    .filter((a) => matches(a, f))
    .sort(
      (a, b) =>
        SEVERITY_RANK[b.severity] - SEVERITY_RANK[a.severity] ||
        b.opened_at.localeCompare(a.opened_at) ||
        a.alert_id.localeCompare(b.alert_id),
    );
}

function renderList() {
  const body = document.getElementById("alert-rows");
  const shown = ordered();
  body.replaceChildren(
    ...shown.map((a) =>
      el(
        "tr",
        { "data-alert-id": a.alert_id, "data-state": a.state, class: a.alert_id === selected ? "selected" : null },
        el("td", {}, severityBadge(a.severity)),
        el("td", {}, a.kind),
        el(
          "td",
          {},
          el("button", { type: "button", class: "link open-alert", "data-alert-id": a.alert_id }, a.summary),
        ),
        el("td", {}, a.shipment_id ? el("a", { href: shipmentHref(a.shipment_id) }, a.shipment_id) : a.device_id),
        el("td", { class: "alert-state" }, stateBadge(a.state)),
        el("td", {}, a.assignee || "–"),
        el("td", {}, when(a.opened_at)),
      ),
    ),
  );
  document.getElementById("alert-count").textContent =
    `${shown.length} alert${shown.length === 1 ? "" : "s"}`;
  document.getElementById("empty").hidden = shown.length > 0;
}

// Each filter change starts a load; their answers can come back in any order, and only the
// newest load's may be shown (an older one would list alerts the filters no longer ask for).
let latestLoad = 0;

async function load() {
  const mine = ++latestLoad;
  const f = filters();
  const query = new URLSearchParams({ limit: "500" });
  if (f.kind) query.set("kind", f.kind);
  if (f.severity) query.set("severity", f.severity);
  if (f.shipment) query.set("shipment_id", f.shipment);
  const states = f.state === "unresolved" ? ["open", "acknowledged"] : f.state ? [f.state] : [""];
  const error = document.getElementById("list-error");
  try {
    const pages = await Promise.all(
      states.map((s) => {
        const q = new URLSearchParams(query);
        if (s) q.set("state", s);
        return api(`/alerts?${q}`);
      }),
    );
    if (mine !== latestLoad) return;
    alerts.clear();
    for (const page of pages) for (const a of page.data) alerts.set(a.alert_id, a);
    error.hidden = true;
  } catch (e) {
    if (mine !== latestLoad) return;
    showError(error, e);
  }
  renderList();
}

function historyItem(entry) {
  return el(
    "li",
    { class: `history-${entry.action}` },
    el("span", { class: "history-action" }, entry.action),
    " ",
    el("span", { class: "history-when" }, when(entry.at)),
    " · ",
    el("span", { class: "history-actor" }, entry.actor),
    entry.comment ? el("p", { class: "history-comment" }, entry.comment) : null,
    entry.assignee ? el("p", { class: "history-assignee" }, `assigned to ${entry.assignee}`) : null,
    entry.action === "open" || entry.action === "update" ? el("p", {}, entry.summary) : null,
  );
}

function actionForm(name, label, field, fieldLabel, required) {
  const id = `${name}-${field}`;
  const input =
    field === "assignee"
      ? el("input", { id, name: field, type: "text", required, autocomplete: "off" })
      : el("textarea", { id, name: field, rows: "2", required });
  return el(
    "form",
    { class: "action", "data-action": name },
    el("label", { for: id }, fieldLabel),
    input,
    el("button", { type: "submit" }, label),
  );
}

function renderDetail(detail) {
  const panel = document.getElementById("detail");
  if (!detail) {
    panel.replaceChildren(el("p", { class: "muted" }, "Choose an alert to see its history."));
    delete panel.dataset.alertId;
    return;
  }
  const actions =
    session.may_act_on_alerts && detail.state !== "resolved"
      ? el(
          "section",
          { "aria-label": "Actions", id: "actions" },
          detail.state === "open"
            ? actionForm("ack", "Acknowledge", "comment", "What is being done (required)", true)
            : null,
          actionForm("assign", "Assign", "assignee", "Assign to", true),
          actionForm("comment", "Comment", "comment", "Comment", true),
          actionForm("resolve", "Resolve", "reason", "Why it is resolved (required)", true),
        )
      : null;
  const comment =
    session.may_act_on_alerts && detail.state === "resolved"
      ? el("section", { "aria-label": "Actions", id: "actions" },
          actionForm("comment", "Comment", "comment", "Comment", true))
      : null;
  // A live update re-draws the panel: what the person was typing, and where, is kept.
  const typed = new Map([...panel.querySelectorAll("form.action")].map((f) => [f.dataset.action, f.elements[0].value]));
  const focused = panel.contains(document.activeElement) ? document.activeElement.id : null;
  panel.replaceChildren(
    el("h2", { id: "detail-title", tabindex: "-1" }, detail.summary),
    el(
      "dl",
      { class: "facts" },
      el("dt", {}, "Severity"), el("dd", {}, severityBadge(detail.severity)),
      el("dt", {}, "State"), el("dd", { id: "detail-state" }, stateBadge(detail.state)),
      el("dt", {}, "Kind"), el("dd", {}, detail.kind),
      el("dt", {}, "Tracker"), el("dd", {}, detail.device_id),
      el("dt", {}, "Shipment"),
      el("dd", {}, detail.shipment_id ? el("a", { href: shipmentHref(detail.shipment_id) }, detail.shipment_id) : "–"),
      el("dt", {}, "Assignee"), el("dd", {}, detail.assignee || "–"),
      el("dt", {}, "Opened"), el("dd", {}, when(detail.opened_at)),
      detail.predicted_breach_at ? [el("dt", {}, "Predicted breach"), el("dd", {}, when(detail.predicted_breach_at))] : null,
    ),
    // The DOM's replaceChildren, unlike el(), would write a null out as the text "null".
    ...[actions || comment].filter(Boolean),
    el("p", { id: "action-error", class: "error", role: "alert", hidden: true }),
    el("h3", {}, "History"),
    el("ol", { id: "history", class: "history" }, detail.history.map(historyItem)),
  );
  if (panel.dataset.alertId === detail.alert_id) {
    for (const form of panel.querySelectorAll("form.action")) {
      if (typed.has(form.dataset.action)) form.elements[0].value = typed.get(form.dataset.action);
    }
    if (focused) document.getElementById(focused)?.focus();
  }
  panel.dataset.alertId = detail.alert_id;
}

async function select(alertId, focus = false) {
  selected = alertId;
  try {
    const detail = await api(`/alerts/${encodeURIComponent(alertId)}`);
    alerts.set(detail.alert_id, detail);
    if (selected === alertId) renderDetail(detail);
  } catch (e) {
    renderDetail(null);
  }
  renderList();
  if (focus) document.getElementById("detail-title")?.focus();
}

async function act(form) {
  const name = form.dataset.action;
  const value = form.elements[0].value.trim();
  const body =
    name === "assign" ? { assignee: value } : name === "resolve" ? { reason: value } : { comment: value };
  const error = document.getElementById("action-error");
  const button = form.querySelector("button");
  button.disabled = true;
  try {
    const detail = await api(`/alerts/${encodeURIComponent(selected)}/${name}`, { method: "POST", body });
    alerts.set(detail.alert_id, detail);
    form.elements[0].value = "";
    renderDetail(detail);
    renderList();
    document.getElementById("detail-title").focus();
  } catch (e) {
    showError(error, e);
    button.disabled = false;
  }
}

async function onEvent(message) {
  let event;
  try {
    event = JSON.parse(message.data);
  } catch {
    return;
  }
  // The event says what changed; the alert's current row (and history) is read from the API.
  try {
    const detail = await api(`/alerts/${encodeURIComponent(event.alert_id)}`);
    alerts.set(detail.alert_id, detail);
    if (detail.alert_id === selected) renderDetail(detail);
  } catch {
    alerts.delete(event.alert_id);
  }
  renderList();
}

function fillFilters() {
  const form = document.getElementById("filters");
  for (const kind of session.kinds) form.elements.kind.append(el("option", { value: kind }, kind));
  for (const s of [...session.severities].reverse()) {
    form.elements.severity.append(el("option", { value: s }, s));
  }
  form.addEventListener("change", load);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    load();
  });
}

start(async (s) => {
  session = s;
  fillFilters();
  renderDetail(null);
  document.getElementById("alert-rows").addEventListener("click", (event) => {
    const button = event.target.closest("button.open-alert");
    if (button) select(button.dataset.alertId, true);
  });
  document.getElementById("detail").addEventListener("submit", (event) => {
    event.preventDefault();
    act(event.target);
  });
  const status = document.getElementById("live");
  const controller = new AbortController();
  window.addEventListener("pagehide", () => controller.abort());
  // The list is (re)loaded once the stream is open, so nothing recorded in between is missed:
  // an event for an alert already listed only re-reads it.
  readStream("/alerts/stream", {
    signal: controller.signal,
    onOpen: load,
    onEvent,
    onStatus: (state) => {
      status.dataset.state = state;
      status.textContent = state === "live" ? "Live" : "Reconnecting…";
    },
  });
});
