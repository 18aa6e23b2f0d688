/* The CLV model page's charts (tracking, by frequency, P(alive) heatmap), drawn with the vendored ECharts
   from the JSON the page embeds (`script#clv-chart-data`); no network. */
(function () {
  "use strict";
  var source = document.getElementById("clv-chart-data");
  if (!source || !window.echarts) { return; }
  var data = JSON.parse(source.textContent);
  var narrow = window.matchMedia("(max-width: 640px)").matches;
  var palette = ["#1f2933", "#2f5fd0", "#22c55e", "#f59e0b", "#a855f7"];
  var base = { textStyle: { fontFamily: "system-ui, sans-serif" }, color: palette, animationDuration: 300 };

  var builders = {
    tracking: function (d) {
      return {
        tooltip: { trigger: "axis" },
        legend: { bottom: 0, type: "scroll" },
        grid: { left: narrow ? 44 : 56, right: 12, top: 16, bottom: 56 },
        xAxis: { type: "category", data: d.dates, boundaryGap: false, axisLabel: { fontSize: narrow ? 9 : 11 } },
        yAxis: { type: "value" },
        series: d.lines.map(function (l, i) {
          var s = { name: l.name, type: "line", data: l.values, showSymbol: false,
            lineStyle: { width: i === 0 ? 3 : 2, type: i === 0 ? "solid" : "dashed" } };
          if (i === 0) {
            s.markLine = { symbol: "none", silent: true, lineStyle: { color: "#616e7c", type: "dashed" },
              label: { formatter: "holdout →", position: "insideEndTop" }, data: [{ xAxis: d.split }] };
          }
          return s;
        })
      };
    },
    by_frequency: function (d) {
      return {
        tooltip: { trigger: "axis" },
        legend: { bottom: 0, type: "scroll" },
        grid: { left: narrow ? 40 : 50, right: 10, top: 16, bottom: 56 },
        xAxis: { type: "category", data: d.labels, name: narrow ? "" : "repeat purchases before", nameLocation: "middle", nameGap: 24 },
        yAxis: { type: "value" },
        series: d.bars.map(function (b) { return { name: b.name, type: "bar", data: b.values }; })
      };
    },
    p_alive: function (d) {
      return {
        tooltip: { position: "top", formatter: function (p) { return d.y[p.value[1]] + ", silent " + d.x[p.value[0]] + ": " + p.value[2] + "%"; } },
        grid: { left: narrow ? 92 : 120, right: 10, top: 10, bottom: 64 },
        xAxis: { type: "category", data: d.x, name: "weeks since last purchase", nameLocation: "middle", nameGap: 26,
          axisLabel: { fontSize: narrow ? 9 : 11 } },
        yAxis: { type: "category", data: d.y, axisLabel: { fontSize: narrow ? 9 : 11 } },
        visualMap: { min: 0, max: 100, orient: "horizontal", left: "center", bottom: 0, itemHeight: 110, itemWidth: 12,
          text: ["100%", "0%"], inRange: { color: ["#fdecec", "#f6f7f9", "#2f5fd0"] } },
        series: [{ type: "heatmap", data: d.cells,
          label: { show: !narrow, fontSize: 10, formatter: function (p) { return Math.round(p.value[2]); } } }]
      };
    }
  };

  var charts = [];
  document.querySelectorAll("[data-clv-chart]").forEach(function (el) {
    var key = el.getAttribute("data-clv-chart");
    if (!data[key] || !builders[key]) { return; }
    var chart = window.echarts.init(el, null, { renderer: "canvas" });
    chart.setOption(Object.assign({}, base, builders[key](data[key])));
    el.setAttribute("data-drawn", "1");
    charts.push(chart);
  });
  window.addEventListener("resize", function () { charts.forEach(function (c) { c.resize(); }); });
})();
