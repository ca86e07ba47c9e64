/* The statistics page: fetch each figure from /api/v1/stats/ (same origin, the session's
 * cookie) and draw it with ECharts. No inline script, so a strict CSP can be applied.
 * Money arrives as strings of yuan; it becomes a Number only here, for drawing. */
(function () {
  "use strict";
  var root = document.getElementById("stats");
  if (!root || !window.echarts) { return; }
  var NO_DATA = root.dataset.noData, AMOUNT = root.dataset.amount, PERSONS = root.dataset.persons;

  function label(column) { return column.label; }

  function draw(el, report) {
    var chart = window.echarts.init(el);
    var rows = report.rows;
    if (!rows.length) { el.textContent = NO_DATA; return; }
    var cols = report.columns;
    var name = cols[1].kind === "text" ? cols[1].key : cols[0].key;
    var numeric = cols.filter(function (c) { return c.kind === "money" || c.kind === "count"; });
    var kind = el.dataset.chart;
    if (kind === "payouts-benefit") {
      chart.setOption({
        tooltip: { trigger: "item" },
        series: [{ type: "pie", radius: "65%", data: rows.map(function (r) {
          return { name: r.label, value: Number(r.amount) };
        }) }]
      });
      return;
    }
    var series, axes;
    if (report.name === "payouts") {
      axes = [{ type: "value", name: AMOUNT }, { type: "value", name: PERSONS }];
      series = [
        { name: AMOUNT, type: "bar", data: rows.map(function (r) { return Number(r.amount); }) },
        { name: PERSONS, type: "line", yAxisIndex: 1, data: rows.map(function (r) { return r.persons; }) }
      ];
    } else {
      axes = [{ type: "value" }];
      series = numeric.filter(function (c) { return c.key !== "year"; }).map(function (c) {
        return { name: label(c), type: "bar", data: rows.map(function (r) { return Number(r[c.key]); }) };
      });
    }
    chart.setOption({
      tooltip: { trigger: "axis" },
      legend: {},
      grid: { containLabel: true },
      xAxis: { type: "category", data: rows.map(function (r) {
        return r.year ? r[name] + " " + r.year : r[name];
      }) },
      yAxis: axes,
      series: series
    });
    window.addEventListener("resize", function () { chart.resize(); });
  }

  root.querySelectorAll("[data-chart]").forEach(function (el) {
    fetch(root.dataset.api + el.dataset.source, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { return r.ok ? r.json() : Promise.reject(r.status); })
      .then(function (report) { draw(el, report); })
      .catch(function (status) { el.textContent = NO_DATA + " (" + status + ")"; });
  });
}());
