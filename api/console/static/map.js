// The fleet map: every watched shipment's tracker at its last position, coloured and labelled
// by its worst open alert, with its planned route, corridor and restricted zones; a marker or a
// table row opens the shipment's page.

import { api, el, severityBadge, shipmentHref, showError, start, when, SEVERITY_RANK } from "./common.js";
import { drawMap } from "./geo.js";

// Shipments whose page is read at once: each read asks InfluxDB for the last position.
const CONCURRENCY = 4;

async function allPages(path) {
  const rows = [];
  let cursor = null;
  do {
    const sep = path.includes("?") ? "&" : "?";
    const page = await api(`${path}${sep}limit=500${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`);
    rows.push(...page.data);
    cursor = page.next_cursor;
  } while (cursor && rows.length < 5000);
  return rows;
}

async function inBatches(items, work) {
  const results = [];
  for (let i = 0; i < items.length; i += CONCURRENCY) {
    results.push(...(await Promise.all(items.slice(i, i + CONCURRENCY).map(work))));
  }
  return results;
}

function worstBy(alerts) {
  const worst = new Map();
  for (const a of alerts) {
    if (!a.shipment_id) continue;
    const seen = worst.get(a.shipment_id);
    if (!seen || SEVERITY_RANK[a.severity] > SEVERITY_RANK[seen]) worst.set(a.shipment_id, a.severity);
  }
  return worst;
}

async function render(session) {
  const error = document.getElementById("map-error");
  try {
    const shipments = (await allPages("/shipments")).filter(
      (s) => s.status === "planned" || s.status === "in_transit",
    );
    const unresolved = [
      ...(await allPages("/alerts?state=open")),
      ...(await allPages("/alerts?state=acknowledged")),
    ];
    const worst = worstBy(unresolved);
    const details = await inBatches(shipments, (s) =>
      api(`/shipments/${encodeURIComponent(s.shipment_id)}?organisation=${encodeURIComponent(s.organisation)}`).catch(
        () => null,
      ),
    );
    const routes = [];
    const zones = [];
    const markers = [];
    const rows = [];
    shipments.forEach((s, i) => {
      const m = s.manifest;
      if (m.route) routes.push({ coordinates: m.route.coordinates, corridor_m: m.corridor_m });
      for (const z of m.restricted_zones || []) zones.push({ name: z.name, coordinates: z.polygon.coordinates });
      const position = details[i]?.conditions?.last_position;
      const severity = worst.get(s.shipment_id) || null;
      const href = shipmentHref(s.shipment_id, s.organisation);
      if (position) {
        markers.push({
          lon: position.lon,
          lat: position.lat,
          severity,
          href,
          label: `${s.shipment_id} · ${severity || "no alert"}`,
          title: `${s.shipment_id} (${s.device_id}): ${severity ? `worst open alert ${severity}` : "no open alert"}`,
        });
      }
      rows.push(
        el(
          "tr",
          {},
          el("td", {}, el("a", { href }, s.shipment_id)),
          el("td", {}, s.device_id),
          el("td", {}, s.status),
          el("td", {}, severity ? severityBadge(severity) : "none"),
          el("td", {}, position ? `${position.lat.toFixed(3)}, ${position.lon.toFixed(3)} at ${when(position.at)}` : "not known"),
        ),
      );
    });
    document.getElementById("fleet-rows").replaceChildren(...rows);
    document.getElementById("legend").replaceChildren(
      el("span", {}, "Worst open alert: "),
      ...["critical", "warning", "info"].map((s) => severityBadge(s)),
      el("span", { class: "sev sev-none" }, "● none"),
    );
    await drawMap(document.getElementById("fleet-map"), { routes, zones, markers });
    document.getElementById("fleet-map").dataset.drawn = String(markers.length);
  } catch (e) {
    showError(error, e);
  }
}

start(render);
