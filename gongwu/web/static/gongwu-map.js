// The pages' maps (Leaflet, vendored): each element with data-map names the <script type="application/json">
// that holds what to draw (gongwu/web/maps.py). No basemap: the service area, the places and a scale are
// the map; a basemap lies under them. Tracks are coloured by speed, each fix answers a hover with its time,
// speed and ACC, stops carry their place's name, and a trip's map can be played back.
(function () {
  "use strict";
  if (!window.L) return;
  var BANDS = ["#1b6e3a", "#245c9e", "#b58100", "#b3261e", "#6d28d9"];  // <30 <60 <90 <120 ≥120 km/h
  var KINDS = {start: "#1b6e3a", end: "#b3261e", place: "#374151", flag: "#b3261e", property: "#7f1616"};
  window.gongwuMaps = [];

  function txt(value) {
    // a tooltip's content as text, never markup: names and addresses come from imported files
    var span = document.createElement("span");
    span.textContent = value == null ? "" : String(value);
    return span;
  }

  function segments(tr) {
    // consecutive fixes of one speed band as one line; each line starts where the last ended
    var out = [], cur = null;
    for (var i = 0; i < tr.lat.length; i++) {
      var p = [tr.lat[i], tr.lon[i]];
      if (!cur || cur.band !== tr.band[i]) {
        cur = {band: tr.band[i], points: cur ? [cur.points[cur.points.length - 1]] : []};
        out.push(cur);
      }
      cur.points.push(p);
    }
    return out;
  }

  function draw(el) {
    var source = document.getElementById(el.getAttribute("data-map"));
    if (!source) return;
    var data = JSON.parse(source.textContent);
    var labels = data.labels || {};
    var map = L.map(el, {attributionControl: !!data.basemap.attribution, scrollWheelZoom: false});
    if (data.basemap.kind === "tiles") {
      L.tileLayer(data.basemap.url, {maxZoom: data.basemap.maxZoom || 18, attribution: data.basemap.attribution,
        subdomains: data.basemap.subdomains || "abc"}).addTo(map);
    } else {
      el.classList.add("no-basemap");
    }
    var bounds = L.latLngBounds([]);
    var drawn = {map: map, data: data, tracks: [], stops: [], places: []};
    if (data.area) {
      data.area.polygons.forEach(function (rings) {
        L.polygon(rings, {color: "#7f1616", weight: 1.5, fillColor: "#9b1c1c", fillOpacity: 0.03, interactive: false}).addTo(map);
      });
    }
    data.places.forEach(function (p) {
      var m = L.circleMarker(p.at, {radius: 3, color: KINDS.place, weight: 1, fillOpacity: 0.8})
        .bindTooltip(txt(p.name), {permanent: true, direction: "right", className: "place-label", offset: [4, 0]}).addTo(map);
      drawn.places.push(m);
    });
    data.tracks.forEach(function (tr) {
      var lines = segments(tr).map(function (s) {
        return L.polyline(s.points, {color: BANDS[s.band] || BANDS[0], weight: 4, opacity: 0.9, className: "track band-" + s.band}).addTo(map);
      });
      for (var i = 0; i < tr.lat.length; i++) {
        var text = tr.time[i] + " · " + labels.speed + " " + tr.speed[i] + " " + labels.kmh + (tr.acc[i] ? " · ACC " + tr.acc[i] : "");
        L.circleMarker([tr.lat[i], tr.lon[i]], {radius: 4, stroke: false, fillColor: "#111827", fillOpacity: 0.01, className: "fix"})
          .bindTooltip(txt(text), {direction: "top"}).addTo(map);
        bounds.extend([tr.lat[i], tr.lon[i]]);
      }
      drawn.tracks.push({lines: lines, first: tr.lat.length ? [tr.lat[0], tr.lon[0]] : null});
    });
    data.markers.forEach(function (m) {
      L.circleMarker(m.at, {radius: 7, color: "#fff", weight: 2, fillColor: KINDS[m.kind] || "#245c9e", fillOpacity: 1, className: "marker-" + m.kind})
        .bindTooltip(txt(m.title || m.label || ""), {direction: "top"}).addTo(map);
      bounds.extend(m.at);
    });
    var colours = {};
    (data.groups || []).forEach(function (g) { colours[g.key] = g.colour; });
    (data.points || []).forEach(function (p) {
      var m = L.circleMarker(p.at, {radius: 7, color: "#fff", weight: 1.5, fillColor: colours[p.group] || "#374151", fillOpacity: 0.95, className: "point g-" + p.group})
        .bindTooltip(txt(p.title), {direction: "top"}).addTo(map);
      if (p.href && p.href.charAt(0) === "/" && p.href.charAt(1) !== "/") m.on("click", function () { window.location.href = p.href; });
      bounds.extend(p.at);
    });
    data.stops.forEach(function (s) {
      var icon = L.divIcon({className: "stop-icon", html: "<span>" + s.n + "</span>", iconSize: [22, 22]});
      var m = L.marker(s.at, {icon: icon, title: labels.stop + " " + s.n + ": " + s.name, keyboard: true})
        .bindTooltip(txt(s.name), {permanent: true, direction: "right", className: "stop-label", offset: [10, 0]})
        .bindPopup("<strong></strong><br><span></span>").addTo(map);
      m.on("popupopen", function (e) {  // text, never markup, from the data
        var root = e.popup.getElement();
        root.querySelector("strong").textContent = labels.stop + " " + s.n + ": " + s.name;
        root.querySelector("span").textContent = s.title;
      });
      drawn.stops.push(m);
      bounds.extend(s.at);
    });
    if (!bounds.isValid()) data.places.forEach(function (p) { bounds.extend(p.at); });
    if (bounds.isValid()) map.fitBounds(bounds.pad(0.15), {maxZoom: 16});
    else map.setView([35, 105], 4);
    L.control.scale({imperial: false}).addTo(map);
    if (data.playback && data.tracks.length) playback(el, map, data.tracks[0], labels, drawn);
    window.gongwuMaps.push(drawn);
  }

  function playback(el, map, tr, labels, drawn) {
    var box = document.getElementById(el.id + "-playback");
    if (!box || !tr.lat.length) return;
    box.hidden = false;
    var slider = box.querySelector("input[type=range]");
    var button = box.querySelector("button");
    var info = box.querySelector("output");
    slider.max = String(tr.lat.length - 1);
    var car = L.circleMarker([tr.lat[0], tr.lon[0]], {radius: 8, color: "#fff", weight: 2, fillColor: "#111827", fillOpacity: 1, className: "playhead"}).addTo(map);
    drawn.playhead = car;
    function show(i) {
      car.setLatLng([tr.lat[i], tr.lon[i]]);
      info.textContent = tr.time[i] + " · " + tr.speed[i] + " " + labels.kmh + (tr.acc[i] ? " · ACC " + tr.acc[i] : "");
    }
    var timer = null;
    function stop() { clearInterval(timer); timer = null; button.textContent = labels.play; button.setAttribute("aria-pressed", "false"); }
    slider.addEventListener("input", function () { show(Number(slider.value)); });
    button.addEventListener("click", function () {
      if (timer) { stop(); return; }
      if (Number(slider.value) >= tr.lat.length - 1) slider.value = "0";
      button.textContent = labels.pause;
      button.setAttribute("aria-pressed", "true");
      timer = setInterval(function () {
        var i = Number(slider.value) + 1;
        if (i >= tr.lat.length) { stop(); return; }
        slider.value = String(i);
        show(i);
      }, Math.max(20, Math.min(250, 20000 / tr.lat.length)));
    });
    show(0);
  }

  function all() { document.querySelectorAll("[data-map]").forEach(draw); }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", all);
  else all();
})();
