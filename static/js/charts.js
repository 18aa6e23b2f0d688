/* Overview charts: fetch each chart's box from the server after the page has loaded, insert it and draw it
   with the vendored ECharts (no CDN, no network beyond this site).

   - A placeholder `section[data-chart-src]` is replaced by the HTML fragment its URL answers (the chart's
     table, caption, CSV link and series JSON in `script#chart-series-<key>`); a failed fetch shows a message
     and a retry button in that box alone.
   - A box already on the page (the no-JavaScript chart page, the campaign page) is drawn as it is; the
     older page-wide `#chart-data` JSON (keyed by chart) is still read when a box carries no series of its own.
   - The overview's key figures load the same way: `section[data-kpis-src]` is replaced by the
     `section[data-kpis-fragment]` its URL answers (cards and contacts per stage).
   - A box that failed on the server carries a `[data-retry]` link; it and the "Try again" button of a failed
     fetch put the placeholder back and load it again.
   - When every chart placeholder has settled, the `[data-charts]` container gets `data-charts-loaded`. */
(function () {
  "use strict";
  var pageData = {};
  var source = document.getElementById("chart-data");
  if (source) { pageData = JSON.parse(source.textContent); }
  var palette = ["#2f5fd0", "#0f9a62", "#a86e00", "#8e2aa3", "#cc2f3c", "#176768", "#767f91", "#2b1f9e"];  // each ≥ 3 : 1 on white (stages/palette.py)
  var narrow = window.matchMedia("(max-width: 640px)").matches;
  var base = { textStyle: { fontFamily: "system-ui, sans-serif" }, color: palette, animationDuration: 400 };

  function funnel(d) {
    return {
      tooltip: { trigger: "item", formatter: "{b}: {c}" },
      series: [{
        type: "funnel", sort: "none", left: "4%", width: "58%", top: 10, bottom: 10, gap: 2, minSize: "6%",
        label: { show: true, position: "right", formatter: "{b}: {c}", color: "#1f2933", fontSize: narrow ? 11 : 12 },
        labelLine: { show: true, length: 12 },
        data: d.items.map(function (i) { return { name: i.name, value: i.value, itemStyle: { color: i.colour || undefined } }; })
      }]
    };
  }
  function sankey(d) {
    return {
      tooltip: { trigger: "item" },
      series: [{
        type: "sankey", left: 10, right: narrow ? 70 : 110, top: 10, bottom: 10, nodeGap: 10, draggable: false,
        emphasis: { focus: "adjacency" }, lineStyle: { color: "gradient", curveness: 0.5, opacity: 0.35 },
        label: { fontSize: narrow ? 10 : 12 },
        data: d.nodes.map(function (n) { return { name: n.name, itemStyle: { color: n.colour } }; }),
        links: d.links
      }]
    };
  }
  function heatmap(d) {
    return {
      // A cell's fourth value says its month is not over yet (partial): marked "*" and said in the tooltip.
      tooltip: { position: "top", formatter: function (p) { return d.y[p.value[1]] + ", " + d.x[p.value[0]] + ": " + p.value[2] + "%" + (p.value[3] ? " (partial month, so far)" : ""); } },
      grid: { left: narrow ? 62 : 80, right: 10, top: 10, bottom: 60 },
      xAxis: { type: "category", data: d.x, splitArea: { show: true } },
      yAxis: { type: "category", data: d.y, inverse: true, splitArea: { show: true } },
      visualMap: { min: 0, max: 100, calculable: false, orient: "horizontal", left: "center", bottom: 0,
        itemHeight: 120, text: ["100%", "0%"], inRange: { color: ["#eef3fd", "#2f5fd0"] } },
      series: [{ type: "heatmap", data: d.cells, label: { show: !narrow, fontSize: 10,
        formatter: function (p) { return Math.round(p.value[2]) + (p.value[3] ? "*" : ""); } } }]
    };
  }
  function bar(d) {
    return {
      tooltip: { trigger: "axis" },
      grid: { left: 50, right: 10, top: 20, bottom: narrow ? 90 : 70 },
      xAxis: { type: "category", data: d.labels, axisLabel: { rotate: 35, fontSize: narrow ? 9 : 11 } },
      yAxis: { type: "value" },
      series: [{ type: "bar", data: d.values, itemStyle: { color: "#2f5fd0", borderRadius: [4, 4, 0, 0] } }]
    };
  }
  function line(d) {
    return {
      tooltip: { trigger: "axis" },
      legend: { type: "scroll", bottom: 0 },
      grid: { left: 50, right: 16, top: 16, bottom: 56 },
      xAxis: { type: "category", data: d.dates, boundaryGap: false },
      yAxis: { type: "value" },
      series: d.lines.map(function (l) {
        return { name: l.name, type: "line", stack: "all", areaStyle: { opacity: 0.85 }, showSymbol: d.dates.length < 3,
          lineStyle: { width: 0 }, itemStyle: { color: l.colour }, data: l.values };
      })
    };
  }
  var builders = { funnel: funnel, sankey: sankey, heatmap: heatmap, bar: bar, line: line };
  var charts = [];

  function seriesFor(el) {
    var key = el.getAttribute("data-chart");
    var own = document.getElementById("chart-series-" + key);
    if (own) { return JSON.parse(own.textContent); }
    return pageData[key];
  }

  function draw(root) {
    if (!window.echarts) { return; }
    root.querySelectorAll("[data-chart]:not([data-drawn])").forEach(function (el) {
      var d = seriesFor(el);
      if (!d || !builders[d.kind]) { return; }
      var chart = window.echarts.init(el, null, { renderer: "canvas" });
      chart.setOption(Object.assign({}, base, builders[d.kind](d)));
      el.setAttribute("data-drawn", "1");
      charts.push(chart);
    });
  }

  var container = document.querySelector("[data-charts]");
  var pending = 0;
  function settled(kind) {
    if (kind !== "chart") { return; }
    pending -= 1;
    if (pending === 0 && container) { container.setAttribute("data-charts-loaded", "1"); }
  }

  // What each kind of placeholder loads: the fragment it is replaced by, and what to say if that fails.
  var kinds = {
    chart: { src: "data-chart-src", fragment: "section[data-chart-fragment]", message: "This chart could not be loaded." },
    kpis: { src: "data-kpis-src", fragment: "section[data-kpis-fragment]", message: "The key figures could not be loaded." }
  };

  // Put a fresh copy of the placeholder back and load it again.
  function retry(current, blank, kind) {
    var again = blank.cloneNode(true);
    current.replaceWith(again);
    if (kind === "chart") {
      pending += 1;
      if (container) { container.removeAttribute("data-charts-loaded"); }
    }
    load(again, kind);
  }

  function fail(box, message, blank, kind) {
    box.removeAttribute("aria-busy");
    box.querySelectorAll(".chart-skeleton, [data-skeleton]").forEach(function (el) { el.remove(); });
    var status = box.querySelector(".chart-status, [data-status]");
    status.className = "unavailable chart-status";
    status.setAttribute("role", "alert");
    status.textContent = message + " ";
    var again = document.createElement("button");
    again.type = "button";
    again.className = "button";
    again.textContent = "Try again";
    again.addEventListener("click", function () { retry(box, blank, kind); });
    status.appendChild(again);
  }

  function load(box, kind) {
    var blank = box.cloneNode(true);  // the placeholder as it was, for "Try again"
    var spec = kinds[kind];
    fetch(box.getAttribute(spec.src), { credentials: "same-origin", headers: { "X-CRM-Fragment": "1" } })
      .then(function (response) {
        return response.text().then(function (text) { return { ok: response.ok, text: text }; });
      })
      .then(function (answer) {
        var holder = document.createElement("template");
        holder.innerHTML = answer.text.trim();
        var fresh = holder.content.querySelector(spec.fragment);
        if (!fresh) { throw new Error("no fragment in the answer"); }
        box.replaceWith(fresh);  // a failed computation still answers with its own box and message
        // A box that failed on the server offers "Try again": load the placeholder again instead of following the link.
        fresh.querySelectorAll("[data-retry]").forEach(function (link) {
          link.addEventListener("click", function (event) { event.preventDefault(); retry(fresh, blank, kind); });
        });
        draw(fresh);
      })
      .catch(function () { fail(box, spec.message, blank, kind); })
      .then(function () { settled(kind); });
  }

  var boxes = document.querySelectorAll("section[data-chart-src]");
  pending = boxes.length;
  if (pending === 0 && container) { container.setAttribute("data-charts-loaded", "1"); }
  document.querySelectorAll("section[data-kpis-src]").forEach(function (box) { load(box, "kpis"); });
  boxes.forEach(function (box) { load(box, "chart"); });
  draw(document);
  window.addEventListener("resize", function () { charts.forEach(function (c) { c.resize(); }); });

  // The period menu says what the dates say: typing a date selects "Custom dates"; choosing a preset
  // empties the dates (they would otherwise win over it on the server).
  var period = document.getElementById("f-period");
  var dates = document.querySelectorAll("input[data-custom-date]");
  dates.forEach(function (input) {
    input.addEventListener("input", function () { if (period && input.value) { period.value = "custom"; } });
  });
  if (period) {
    period.addEventListener("change", function () {
      if (period.value !== "custom") { dates.forEach(function (input) { input.value = ""; }); }
    });
  }
})();
