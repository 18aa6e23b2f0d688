/* Draw the overview charts with the vendored ECharts from the JSON the page embeds (no network). */
(function () {
  "use strict";
  var source = document.getElementById("chart-data");
  if (!source || !window.echarts) { return; }
  var data = JSON.parse(source.textContent);
  var palette = ["#2f5fd0", "#38bdf8", "#22c55e", "#a855f7", "#f59e0b", "#ef4444", "#14b8a6", "#64748b"];
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
      tooltip: { position: "top", formatter: function (p) { return d.y[p.value[1]] + ", " + d.x[p.value[0]] + ": " + p.value[2] + "%"; } },
      grid: { left: narrow ? 62 : 80, right: 10, top: 10, bottom: 60 },
      xAxis: { type: "category", data: d.x, splitArea: { show: true } },
      yAxis: { type: "category", data: d.y, inverse: true, splitArea: { show: true } },
      visualMap: { min: 0, max: 100, calculable: false, orient: "horizontal", left: "center", bottom: 0,
        itemHeight: 120, text: ["100%", "0%"], inRange: { color: ["#eef3fd", "#2f5fd0"] } },
      series: [{ type: "heatmap", data: d.cells, label: { show: !narrow, fontSize: 10,
        formatter: function (p) { return Math.round(p.value[2]); } } }]
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
  document.querySelectorAll("[data-chart]").forEach(function (el) {
    var d = data[el.getAttribute("data-chart")];
    if (!d || !builders[d.kind]) { return; }
    var chart = window.echarts.init(el, null, { renderer: "canvas" });
    chart.setOption(Object.assign({}, base, builders[d.kind](d)));
    el.setAttribute("data-drawn", "1");
    charts.push(chart);
  });
  window.addEventListener("resize", function () { charts.forEach(function (c) { c.resize(); }); });
})();
