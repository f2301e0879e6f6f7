/* The alert map: coastline and zones from the configuration, the vessel's evidence on top.
 * No tile server (the app works offline). Every text shown in a popup is set with
 * textContent: names and details come from AIS and are untrusted. */
(function () {
  "use strict";
  var el = document.getElementById("map");
  if (!el || !window.L) { return; }
  var status = document.getElementById("map-status");
  function say(text) { if (status) { status.textContent = text; } }

  var ZONE = {
    departure: { color: "#c2410c", fillColor: "#fb923c" },
    holding_area: { color: "#7e22ce", fillColor: "#c084fc" },
    destination: { color: "#15803d", fillColor: "#4ade80" },
    landing: { color: "#0f766e", fillColor: "#5eead4" }
  };
  var EVENT_COLOR = {
    loiter: "#d97706", zone_dwell: "#c2410c", encounter: "#be185d", port_visit: "#475569",
    identity_conflict: "#7c2d12", heading_to_destination: "#15803d",
    dark_gap_vanish: "#b91c1c", dark_gap_reappear: "#b91c1c"
  };
  var LABEL = {
    kind: "Kind", event_type: "Event", name: "Name", role: "Role", start: "Start (UTC)",
    end: "End (UTC)", time: "Time (UTC)", duration_h: "Hours", night_h: "Night hours",
    zone_name: "Zone", zone_id: "Zone id", partner_mmsi: "Partner MMSI", mmsi: "MMSI",
    sog_kn: "Speed (kn)", cog_deg: "Course (°)", detail: "Detail", positions: "Positions",
    radius_km: "Radius (km)", country: "Country", provenance: "Sources", open: "Still running",
    night: "Night"
  };
  var SHOW = ["event_type", "name", "role", "country", "radius_km", "mmsi", "partner_mmsi",
    "start", "end", "time", "duration_h", "night_h", "zone_name", "sog_kn", "cog_deg",
    "positions", "open", "night", "detail", "provenance"];

  function fmt(v) {
    if (typeof v === "boolean") { return v ? "yes" : "no"; }
    if (typeof v === "string" && /^\d{4}-\d\d-\d\dT\d\d:\d\d/.test(v)) {
      return v.slice(0, 16).replace("T", " ");
    }
    return String(v);
  }

  function popup(props, title) {
    var box = document.createElement("div");
    box.className = "popup";
    var h = document.createElement("strong");
    h.textContent = title;
    box.appendChild(h);
    var dl = document.createElement("dl");
    SHOW.forEach(function (k) {
      var v = props[k];
      if (v === null || v === undefined || v === "" || k === "kind") { return; }
      var dt = document.createElement("dt");
      dt.textContent = LABEL[k] || k;
      var dd = document.createElement("dd");
      dd.textContent = fmt(v);
      if (k === "provenance") { dd.className = "prov"; }
      dl.appendChild(dt);
      dl.appendChild(dd);
    });
    box.appendChild(dl);
    return box;
  }

  function titleOf(p) {
    var k = p.kind || p.layer;
    if (p.layer === "zone") { return p.name || p.id; }
    if (k === "gap_link") { return "Dark gap"; }
    if (k === "dark_gap_vanish") { return "Dark gap: vanished here"; }
    if (k === "dark_gap_reappear") { return "Dark gap: reappeared here"; }
    if (k === "partner_track") { return "Encounter partner track"; }
    if (k === "position") { return "Position"; }
    if (k === "track") { return "Track"; }
    if (k === "track_start") { return "First position in the window"; }
    if (k === "track_end") { return "Last position in the window"; }
    return String(k).replace(/_/g, " ");
  }

  var map = L.map(el, { preferCanvas: false, zoomSnap: 0.5, worldCopyJump: false });
  map.attributionControl.addAttribution("Coastline: Natural Earth");
  L.control.scale({ imperial: false, maxWidth: 140 }).addTo(map);
  map.setView([0, 105], 4);

  var groups = {
    coast: L.featureGroup(), zones: L.featureGroup(), track: L.featureGroup(),
    positions: L.featureGroup(), events: L.featureGroup(), partners: L.featureGroup()
  };
  var byEvent = {};

  function remember(p, layer) {
    if (p.event_id) { (byEvent[p.event_id] = byEvent[p.event_id] || []).push(layer); }
  }

  function baseLayer(doc) {
    L.geoJSON(doc, {
      filter: function (f) { return f.properties.layer !== "zone"; },
      style: function (f) {
        if (f.properties.layer === "land") {
          return { color: "#9c9276", weight: 1, fillColor: "#f1ecdf", fillOpacity: 1 };
        }
        return { color: "#64748b", weight: 1, dashArray: "4 6", fill: false };
      },
      interactive: false
    }).addTo(groups.coast);
    L.geoJSON(doc, {
      filter: function (f) { return f.properties.layer === "zone"; },
      style: function (f) {
        var z = ZONE[f.properties.role] || ZONE.landing;
        return { color: z.color, weight: 1.5, fillColor: z.fillColor, fillOpacity: 0.12 };
      },
      onEachFeature: function (f, layer) {
        layer.bindPopup(popup(f.properties, titleOf(f.properties)), { maxWidth: 360 });
        layer.bindTooltip(f.properties.name || f.properties.id, { sticky: true });
      }
    }).addTo(groups.zones);
  }

  function evidenceLayer(doc) {
    var counts = { track: 0, position: 0, events: 0 };
    L.geoJSON(doc, {
      filter: function (f) { return f.geometry && f.properties.kind !== "zone"; },
      style: function (f) {
        var k = f.properties.kind;
        if (k === "track") { return { color: "#1d4ed8", weight: 3, opacity: 0.9 }; }
        if (k === "partner_track") { return { color: "#be185d", weight: 3, opacity: 0.85, dashArray: "1 5", lineCap: "round" }; }
        if (k === "gap_link") { return { color: "#b91c1c", weight: 2.5, dashArray: "8 8" }; }
        if (k === "heading_to_destination") { return { color: "#15803d", weight: 2, dashArray: "2 6" }; }
        if (k === "loiter") { return { color: "#d97706", weight: 2, fillColor: "#fbbf24", fillOpacity: 0.35 }; }
        return { color: EVENT_COLOR[k] || "#334155", weight: 2 };
      },
      pointToLayer: function (f, latlng) {
        var k = f.properties.kind;
        if (k === "position") {
          return L.circleMarker(latlng, { radius: 2.5, weight: 0, fillOpacity: 0.8,
            fillColor: f.properties.night ? "#0f172a" : "#60a5fa" });
        }
        if (k === "track_start") {
          return L.circleMarker(latlng, { radius: 5, color: "#1d4ed8", weight: 2, fillColor: "#fff", fillOpacity: 1 });
        }
        if (k === "track_end") {
          return L.circleMarker(latlng, { radius: 6, color: "#fff", weight: 2, fillColor: "#1d4ed8", fillOpacity: 1 });
        }
        if (k === "dark_gap_vanish") {
          return L.circleMarker(latlng, { radius: 7, color: "#b91c1c", weight: 2.5, fillColor: "#fff", fillOpacity: 1 });
        }
        if (k === "dark_gap_reappear") {
          return L.circleMarker(latlng, { radius: 7, color: "#fff", weight: 2, fillColor: "#b91c1c", fillOpacity: 1 });
        }
        return L.circleMarker(latlng, { radius: 7, color: "#fff", weight: 1.5,
          fillColor: EVENT_COLOR[k] || "#334155", fillOpacity: 0.95 });
      },
      onEachFeature: function (f, layer) {
        var p = f.properties, k = p.kind;
        if (k !== "track") { layer.bindPopup(popup(p, titleOf(p)), { maxWidth: 320 }); }
        else { layer.bindTooltip("Track " + fmt(p.start) + " – " + fmt(p.end) + " UTC", { sticky: true }); }
        remember(p, layer);
        if (k === "track" || k === "track_start" || k === "track_end") { groups.track.addLayer(layer); counts.track += (k === "track"); }
        else if (k === "position") { groups.positions.addLayer(layer); counts.position += 1; }
        else if (k === "partner_track") { groups.partners.addLayer(layer); }
        else { groups.events.addLayer(layer); if (p.event_id && k !== "gap_link" && k !== "dark_gap_reappear") { counts.events += 1; } }
      }
    });
    return counts;
  }

  function getJSON(url) {
    return fetch(url, { credentials: "same-origin", headers: { Accept: "application/geo+json" } })
      .then(function (r) {
        if (!r.ok) { throw new Error(url + ": HTTP " + r.status); }
        return r.json();
      });
  }

  Promise.all([getJSON(el.dataset.base), getJSON(el.dataset.evidence)]).then(function (docs) {
    baseLayer(docs[0]);
    var counts = evidenceLayer(docs[1]);
    groups.coast.addTo(map);
    groups.zones.addTo(map);
    groups.partners.addTo(map);
    groups.positions.addTo(map);
    groups.track.addTo(map);
    groups.events.addTo(map);
    L.control.layers(null, {
      "Coastline and regions": groups.coast, "Zones": groups.zones, "Track": groups.track,
      "Positions (dark = night)": groups.positions, "Events": groups.events,
      "Encounter partners": groups.partners
    }, { collapsed: true }).addTo(map);
    var bb = docs[1].bbox;
    if (bb) {
      map.fitBounds([[bb[1], bb[0]], [bb[3], bb[2]]], { padding: [30, 30], maxZoom: 11 });
    } else if (groups.zones.getLayers().length) {
      map.fitBounds(groups.zones.getBounds(), { padding: [10, 10] });
    }
    var w = docs[1].window || {};
    say(counts.position ? (counts.position + " positions shown, " + counts.events +
        " events, " + (w.hours || "") + " h to " + fmt(w.end || "") + " UTC. Click a feature or a timeline row for details.")
      : "No AIS positions of this vessel in the window: widen it above.");
    el.dataset.ready = "1";
  }).catch(function (err) {
    say("The map could not be loaded (" + err.message + "). The timeline below still lists the events.");
    el.dataset.ready = "error";
  });

  function focusEvent(id) {
    var layers = byEvent[id];
    if (!layers || !layers.length) { return; }
    var g = L.featureGroup(layers);
    el.scrollIntoView({ block: "nearest" });
    map.fitBounds(g.getBounds().pad(0.5), { maxZoom: 12 });
    layers[0].openPopup();
  }
  document.querySelectorAll("tr[data-event-id]").forEach(function (row) {
    row.addEventListener("click", function () { focusEvent(row.dataset.eventId); });
    row.addEventListener("keydown", function (e) { if (e.key === "Enter") { focusEvent(row.dataset.eventId); } });
  });
})();
