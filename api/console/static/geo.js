// Drawing a map in SVG with d3-geo: the bundled Natural Earth country outlines (world-atlas,
// through topojson-client), planned routes with their corridors, restricted zones, tracks and
// tracker markers. No tiles: everything drawn is in the page's own files and the API's data.

const SVG = "http://www.w3.org/2000/svg";
let countries = null;

export async function baseMap() {
  if (countries === null) {
    const response = await fetch("/console/static/vendor/world-atlas/countries-50m.json");
    const topology = await response.json();
    countries = topojson.feature(topology, topology.objects.countries);
  }
  return countries;
}

function node(tag, attrs = {}, text = null) {
  const n = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) if (v !== null && v !== undefined) n.setAttribute(k, v);
  if (text !== null) n.textContent = text;
  return n;
}

const METRES_PER_DEGREE = 111_320;

// GeoJSON (RFC 7946) winds an outer ring counter-clockwise; d3-geo takes rings as spherical
// and reads that as "everything but the zone". A ring covering more than half the sphere is
// turned round, so a zone means its inside whichever way it was written.
function rewound(coordinates) {
  const polygon = { type: "Polygon", coordinates };
  if (d3.geoArea(polygon) <= 2 * Math.PI) return coordinates;
  return coordinates.map((ring) => [...ring].reverse());
}

/**
 * Draw onto `svg`: routes [{coordinates, corridor_m}], zones [{name, coordinates}],
 * tracks [[lon, lat], ...], markers [{lon, lat, severity, label, href, title}].
 * The view fits what is drawn (the whole world when there is nothing).
 */
export async function drawMap(svg, { routes = [], zones = [], tracks = [], markers = [] }) {
  const land = await baseMap();
  const width = svg.clientWidth || 800;
  const height = svg.clientHeight || 480;
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  const title = svg.querySelector("title");
  svg.replaceChildren(...(title ? [title] : []));

  zones = zones.map((z) => ({ ...z, coordinates: rewound(z.coordinates) }));
  const shapes = [
    ...routes.map((r) => ({ type: "LineString", coordinates: r.coordinates })),
    ...zones.map((z) => ({ type: "Polygon", coordinates: z.coordinates })),
    ...tracks.filter((t) => t.length > 1).map((t) => ({ type: "LineString", coordinates: t })),
    ...markers.map((m) => ({ type: "Point", coordinates: [m.lon, m.lat] })),
  ];
  const projection = d3.geoMercator();
  const pad = 28;
  if (shapes.length) {
    projection.fitExtent([[pad, pad], [width - pad, height - pad]], {
      type: "GeometryCollection",
      geometries: shapes,
    });
    // A single point would zoom in without end: keep at least a few hundred kilometres in view.
    const [[x0, y0], [x1, y1]] = d3.geoPath(projection).bounds({ type: "GeometryCollection", geometries: shapes });
    if (x1 - x0 < 40 && y1 - y0 < 40) projection.scale(Math.min(projection.scale(), 4000));
  } else {
    projection.fitExtent([[pad, pad], [width - pad, height - pad]], { type: "Sphere" });
  }
  const path = d3.geoPath(projection);

  svg.append(node("rect", { class: "sea", x: 0, y: 0, width, height }));
  const landLayer = node("g", { class: "land" });
  for (const feature of land.features) {
    const d = path(feature);
    if (d) landLayer.append(node("path", { d }));
  }
  svg.append(landLayer);

  for (const zone of zones) {
    const d = path({ type: "Polygon", coordinates: zone.coordinates });
    if (!d) continue;
    const g = node("g", { class: "zone" });
    g.append(node("path", { d }), node("title", {}, `Restricted zone ${zone.name || ""}`.trim()));
    svg.append(g);
  }
  for (const route of routes) {
    const d = path({ type: "LineString", coordinates: route.coordinates });
    if (!d) continue;
    if (route.corridor_m) {
      // The corridor's width in pixels where the route starts: Mercator scales with latitude.
      const [lon, lat] = route.coordinates[0];
      const a = projection([lon, lat]);
      const b = projection([lon, lat + route.corridor_m / METRES_PER_DEGREE]);
      const px = Math.max(2, 2 * Math.abs(a[1] - b[1]));
      svg.append(node("path", { d, class: "corridor", "stroke-width": px.toFixed(1) }));
    }
    svg.append(node("path", { d, class: "route" }));
  }
  for (const track of tracks) {
    if (track.length < 2) continue;
    const d = path({ type: "LineString", coordinates: track });
    if (d) svg.append(node("path", { d, class: "track" }));
  }
  for (const marker of markers) {
    const at = projection([marker.lon, marker.lat]);
    if (!at) continue;
    const severity = marker.severity || "none";
    const group = node("g", { class: `marker sev-${severity}`, transform: `translate(${at[0].toFixed(1)},${at[1].toFixed(1)})` });
    group.append(
      node("circle", { r: 7 }),
      node("text", { x: 11, y: 4 }, marker.label),
      node("title", {}, marker.title || marker.label),
    );
    if (marker.href) {
      const link = node("a", { href: marker.href, "aria-label": marker.title || marker.label });
      link.append(group);
      svg.append(link);
    } else {
      svg.append(group);
    }
  }
}
