// A shipment's page: temperature against the profile's band with the predicted breach, the
// route travelled on the planned route, seal and door states, the customs risk score with
// each alert's share, and a timeline of every alert event and human action.

import { api, ApiError, el, severityBadge, showError, start, when } from "./common.js";
import { drawMap } from "./geo.js";

const parts = window.location.pathname.split("/");
const shipmentId = decodeURIComponent(parts[parts.length - 1]);
const organisation = new URLSearchParams(window.location.search).get("organisation");
const orgQuery = organisation ? `organisation=${encodeURIComponent(organisation)}` : "";
const base = `/shipments/${encodeURIComponent(shipmentId)}`;

function seconds(iso) {
  return Date.parse(iso) / 1000;
}

function channel(readings, name) {
  return readings?.channels.find((c) => c.channel === name)?.points || [];
}

function drawChart(session, detail, readings, breaches) {
  const box = document.getElementById("temp-chart");
  const temps = channel(readings, "temp_c").filter((p) => typeof p.value === "number");
  // The manifest's own range, else its profile's: the range the detectors watch.
  const range = detail.manifest.temp_range_c || session.profile_ranges_c[detail.manifest.profile] || null;
  const note = document.getElementById("temp-note");
  const notes = [];
  if (range) notes.push(`Profile ${detail.manifest.profile}: ${range[0]} to ${range[1]} °C.`);
  for (const b of breaches) {
    const confidence = b.confidence === null ? "" : ` (confidence ${Math.round(b.confidence * 100)} %)`;
    notes.push(`Breach predicted at ${when(b.predicted_breach_at)}${confidence}.`);
  }
  if (!temps.length) notes.push(readings ? "No temperature readings yet." : "Readings are unavailable.");
  note.textContent = notes.join(" ");
  if (!temps.length) return;

  // uPlot wants one shared x axis: the readings' times, and the predicted breach times.
  const predicted = breaches.map((b) => seconds(b.predicted_breach_at)).filter((t) => Number.isFinite(t));
  const xs = [...new Set([...temps.map((p) => seconds(p.at)), ...predicted])].sort((a, b) => a - b);
  const byTime = new Map(temps.map((p) => [seconds(p.at), p.value]));
  const temp = xs.map((x) => (byTime.has(x) ? byTime.get(x) : null));
  const lastTemp = temps[temps.length - 1].value;
  const limit = range ? (Math.abs(lastTemp - range[1]) < Math.abs(lastTemp - range[0]) ? range[1] : range[0]) : lastTemp;
  const breach = xs.map((x) => (predicted.includes(x) ? limit : null));
  const data = [xs, temp];
  const series = [
    {},
    { label: "temperature °C", stroke: "#1f5fbf", width: 2, spanGaps: true },
  ];
  if (range) {
    data.push(xs.map(() => range[0]), xs.map(() => range[1]));
    series.push(
      { label: `low ${range[0]} °C`, stroke: "#2e7d32", dash: [6, 4], width: 1, points: { show: false } },
      { label: `high ${range[1]} °C`, stroke: "#2e7d32", dash: [6, 4], width: 1, points: { show: false } },
    );
  }
  if (predicted.length) {
    data.push(breach);
    series.push({
      label: "predicted breach",
      stroke: "#b3261e",
      width: 0,
      points: { show: true, size: 12, fill: "#b3261e", stroke: "#b3261e" },
    });
  }
  const options = {
    width: Math.max(320, box.clientWidth || 800),
    height: 280,
    series,
    bands: range ? [{ series: [3, 2], fill: "rgba(46, 125, 50, 0.10)" }] : [],
    axes: [{}, { label: "°C" }],
  };
  box.replaceChildren();
  new uPlot(options, data, box);
}

function track(readings) {
  const lats = new Map(channel(readings, "lat").map((p) => [p.at, p.value]));
  return channel(readings, "lon")
    .filter((p) => typeof p.value === "number" && typeof lats.get(p.at) === "number")
    .map((p) => [p.value, lats.get(p.at)]);
}

async function drawRoute(detail, readings, worst) {
  const m = detail.manifest;
  const travelled = track(readings);
  const position = detail.conditions.last_position;
  const markers = position
    ? [{ lon: position.lon, lat: position.lat, severity: worst, label: detail.device_id, title: `${detail.device_id} at ${when(position.at)}` }]
    : [];
  await drawMap(document.getElementById("route-map"), {
    routes: m.route ? [{ coordinates: m.route.coordinates, corridor_m: m.corridor_m }] : [],
    zones: (m.restricted_zones || []).map((z) => ({ name: z.name, coordinates: z.polygon.coordinates })),
    tracks: [travelled],
    markers,
  });
  document.getElementById("route-note").textContent =
    `${travelled.length} positions travelled` + (m.route ? "; dashed: the planned route and its corridor." : ".");
}

function sealAndDoors(readings) {
  const facts = document.getElementById("seal-facts");
  const changes = [];
  const last = {};
  for (const name of ["seal", "door"]) {
    let previous = null;
    for (const p of channel(readings, name)) {
      if (p.value !== previous) changes.push({ at: p.at, text: `${name} ${p.value}` });
      previous = p.value;
    }
    last[name] = previous;
  }
  facts.replaceChildren(
    el("dt", {}, "Seal"), el("dd", { class: `seal-${last.seal || "unknown"}` }, last.seal || "no reading"),
    el("dt", {}, "Door"), el("dd", { class: `door-${last.door || "unknown"}` }, last.door || "no reading"),
  );
  changes.sort((a, b) => a.at.localeCompare(b.at));
  document.getElementById("seal-changes").replaceChildren(
    ...changes.slice(-20).map((c) => el("li", {}, `${when(c.at)}: ${c.text}`)),
  );
}

function risk(detail) {
  document.getElementById("risk-score").textContent = detail.risk.score.toFixed(1);
  document.getElementById("risk-rows").replaceChildren(
    ...detail.risk.contributions.map((c) =>
      el("tr", {}, el("td", {}, c.kind), el("td", {}, severityBadge(c.severity)), el("td", {}, c.points.toFixed(1))),
    ),
  );
}

function conditions(detail) {
  const c = detail.conditions;
  const fmt = (v, unit) => (v === null || v === undefined ? "not known" : `${v.toFixed(1)} ${unit}`);
  document.getElementById("conditions").replaceChildren(
    el("dt", {}, "Status"), el("dd", {}, detail.status),
    el("dt", {}, "Last temperature"), el("dd", {}, fmt(c.last_temperature_c, "°C")),
    el("dt", {}, "Mean kinetic temperature"), el("dd", {}, fmt(c.mkt_c, "°C")),
    el("dt", {}, "Stability budget used"),
    el("dd", {}, fmt(c.stability_budget_used_min, "min") + (detail.manifest.stability_budget_min ? ` of ${detail.manifest.stability_budget_min} min` : "")),
    el("dt", {}, "Last position"),
    el("dd", {}, c.last_position ? `${c.last_position.lat.toFixed(3)}, ${c.last_position.lon.toFixed(3)} at ${when(c.last_position.at)}` : "not known"),
  );
}

function timeline(alerts) {
  const entries = [];
  for (const a of alerts) for (const h of a.history) entries.push({ alert: a, entry: h });
  entries.sort((x, y) => x.entry.at.localeCompare(y.entry.at) || x.entry.seq - y.entry.seq);
  document.getElementById("timeline").replaceChildren(
    ...entries.map(({ alert, entry }) =>
      el(
        "li",
        { class: entry.actor === "detector" ? "event" : "human" },
        el("span", { class: "history-when" }, when(entry.at)),
        " ",
        severityBadge(entry.severity),
        " ",
        el("strong", {}, `${alert.kind} ${entry.action}`),
        ` · ${entry.actor}`,
        el("p", {}, entry.comment || entry.summary),
      ),
    ),
  );
}

start(async (session) => {
  const error = document.getElementById("page-error");
  let detail;
  try {
    detail = await api(`${base}${orgQuery ? `?${orgQuery}` : ""}`);
  } catch (e) {
    showError(error, e);
    return;
  }
  document.title = `${detail.shipment_id} · CargoWatch`;
  document.getElementById("title").textContent = `Shipment ${detail.shipment_id}`;
  document.getElementById("summary").replaceChildren(
    `${detail.organisation} · tracker ${detail.device_id} · ${detail.status} · version ${detail.version}`,
  );
  const channels = ["temp_c", "lat", "lon", "seal", "door"].map((c) => `channel=${c}`).join("&");
  const readingsQuery = [channels, "max_points=1500", orgQuery].filter(Boolean).join("&");
  const [readings, listed] = await Promise.all([
    api(`${base}/readings?${readingsQuery}`).catch((e) => {
      if (!(e instanceof ApiError)) throw e;
      return null;
    }),
    api(`/alerts?shipment_id=${encodeURIComponent(shipmentId)}&limit=100`),
  ]);
  const alerts = await Promise.all(listed.data.map((a) => api(`/alerts/${encodeURIComponent(a.alert_id)}`)));
  const breaches = alerts.filter((a) => a.state !== "resolved" && a.predicted_breach_at);
  const rank = { info: 0, warning: 1, critical: 2 };
  const worst = detail.open_alerts.reduce((w, a) => (w === null || rank[a.severity] > rank[w] ? a.severity : w), null);
  conditions(detail);
  risk(detail);
  sealAndDoors(readings);
  timeline(alerts);
  drawChart(session, detail, readings, breaches);
  await drawRoute(detail, readings, worst);
  document.getElementById("main").dataset.ready = "true";
});
