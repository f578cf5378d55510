// amqpish management UI: refreshes figures, charts and tables once a second from the
// JSON API. The pages are complete without it; this only keeps them live.
(function () {
  "use strict";
  var PERIOD = 1000;

  function get(obj, path) {
    var parts = path.split(".");
    for (var i = 0; i < parts.length; i++) {
      if (obj === null || typeof obj !== "object" || !(parts[i] in obj)) return undefined;
      obj = obj[parts[i]];
    }
    return obj;
  }

  function fmtRate(r) {
    if (!r) return "0.0/s";
    return Math.abs(r) >= 100 ? Math.round(r).toLocaleString("en-US") + "/s" : r.toFixed(1) + "/s";
  }

  function fmtInt(n) { return Math.round(n).toLocaleString("en-US"); }

  function niceMax(v) {
    if (v <= 0) return 1;
    var exp = Math.pow(10, Math.floor(Math.log10(v)));
    var steps = [1, 2, 2.5, 5, 10];
    for (var i = 0; i < steps.length; i++) if (v <= steps[i] * exp) return steps[i] * exp;
    return 10 * exp;
  }

  function updateFields(root, data) {
    root.querySelectorAll("[data-field]").forEach(function (el) {
      var total = 0, found = false;
      el.getAttribute("data-field").split("+").forEach(function (p) {
        var v = get(data, p);
        if (typeof v === "number") { total += v; found = true; }
      });
      if (!found) return;
      el.textContent = el.getAttribute("data-format") === "rate" ? fmtRate(total) : fmtInt(total);
    });
  }

  function updateChart(fig, data) {
    var spec = JSON.parse(fig.getAttribute("data-spec"));
    var rate = fig.getAttribute("data-rate") === "true";
    var age = parseInt(fig.getAttribute("data-age"), 10);
    var svg = fig.querySelector("svg");
    var w = svg.viewBox.baseVal.width, h = svg.viewBox.baseVal.height;
    var series = [], top = 0, newest = 0;
    spec.forEach(function (s) {
      var d = get(data, s.path);
      var samples = d && d.samples ? d.samples.slice().reverse() : [];
      var pts = [];
      for (var i = 0; i < samples.length; i++) {
        var t = samples[i].timestamp / 1000, v;
        if (rate) {
          if (i === 0) continue;
          var dt = t - samples[i - 1].timestamp / 1000;
          v = dt > 0 ? (samples[i].sample - samples[i - 1].sample) / dt : 0;
        } else {
          v = samples[i].sample;
        }
        v = Math.max(v, 0);
        pts.push([t, v]);
        if (v > top) top = v;
        if (t > newest) newest = t;
      }
      series.push({ key: s.key, pts: pts });
    });
    if (!newest) return;
    var oldest = newest;
    series.forEach(function (s) { if (s.pts.length && s.pts[0][0] < oldest) oldest = s.pts[0][0]; });
    var win = Math.min(Math.max(newest - oldest, 60), age);
    var ymax = niceMax(top), t0 = newest - win;
    var wl = fig.querySelector("[data-window]");
    if (wl) wl.textContent = "-" + Math.round(win) + " s";
    series.forEach(function (s) {
      var line = svg.querySelector('polyline[data-key="' + s.key + '"]');
      if (!line) return;
      line.setAttribute("points", s.pts.filter(function (p) { return p[0] >= t0; }).map(function (p) {
        return ((p[0] - t0) / win * w).toFixed(1) + "," + (h - p[1] / ymax * h).toFixed(1);
      }).join(" "));
      var last = fig.querySelector('[data-last="' + s.key + '"]');
      if (last && s.pts.length) {
        var v = s.pts[s.pts.length - 1][1];
        last.textContent = rate ? fmtRate(v) : fmtInt(v);
      }
    });
    var y = fig.querySelector("[data-ymax]");
    if (y) y.textContent = rate ? fmtRate(ymax) : fmtInt(ymax);
  }

  function updateTable(table, data) {
    var items = Array.isArray(data) ? data : (data && data.items) || [];
    items.forEach(function (q) {
      var row = table.querySelector('tr[data-key="' + CSS.escape(q.vhost + "|" + q.name) + '"]');
      if (!row) return;
      var ms = q.message_stats || {};
      var values = {
        messages_ready: fmtInt(q.messages_ready || 0),
        messages_unacknowledged: fmtInt(q.messages_unacknowledged || 0),
        messages: fmtInt(q.messages || 0),
        consumers: fmtInt(q.consumers || 0),
        rate_in: fmtRate(get(ms, "publish_details.rate") || 0),
        rate_out: fmtRate(get(ms, "deliver_get_details.rate") || 0),
        rate_ack: fmtRate(get(ms, "ack_details.rate") || 0)
      };
      row.querySelectorAll("[data-col]").forEach(function (td) {
        var k = td.getAttribute("data-col");
        if (k in values) td.textContent = values[k];
      });
    });
  }

  function stamp() {
    var el = document.getElementById("taken-at");
    if (!el) return;
    var d = new Date();
    var pad = function (n) { return (n < 10 ? "0" : "") + n; };
    el.textContent = d.getFullYear() + "-" + pad(d.getMonth() + 1) + "-" + pad(d.getDate()) + " " +
      pad(d.getHours()) + ":" + pad(d.getMinutes()) + ":" + pad(d.getSeconds());
  }

  var sources = {};
  function watch(el, kind) {
    var src = el.getAttribute("data-source");
    if (!src) return;
    (sources[src] = sources[src] || []).push({ el: el, kind: kind });
  }
  document.querySelectorAll(".live[data-source]").forEach(function (el) { watch(el, "fields"); });
  document.querySelectorAll("figure.chart[data-source]").forEach(function (el) { watch(el, "chart"); });
  document.querySelectorAll("table.live-table[data-source]").forEach(function (el) { watch(el, "table"); });

  var failures = 0;
  function poll() {
    if (document.hidden) { setTimeout(poll, PERIOD); return; }
    var urls = Object.keys(sources);
    if (!urls.length) return;
    Promise.all(urls.map(function (url) {
      return fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
        .then(function (r) { if (!r.ok) throw new Error(r.status); return r.json(); })
        .then(function (data) {
          sources[url].forEach(function (w) {
            if (w.kind === "fields") updateFields(w.el, data);
            else if (w.kind === "chart") updateChart(w.el, data);
            else updateTable(w.el, data);
          });
        });
    })).then(function () {
      failures = 0;
      stamp();
      document.documentElement.setAttribute("data-live", "ok");
    }, function () {
      failures++;
      document.documentElement.setAttribute("data-live", "error");
    }).then(function () {
      setTimeout(poll, PERIOD * Math.min(1 + failures, 10));
    });
  }
  setTimeout(poll, PERIOD);
})();
