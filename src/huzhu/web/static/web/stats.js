/* The statistics page: fetch each figure from /api/v1/stats/ (same origin, the session's
 * cookie) and draw it with ECharts as its data-spec says (see console_views._chart). No inline
 * script, so a strict CSP can be applied. Every word comes from the page (translated by the
 * server) or from Intl in the page's language. Money arrives as strings of yuan; it becomes a
 * Number only here, for drawing.
 *
 * What a leader reads without hovering: every bar carries its value, every value axis its unit
 * (each unit its own axis), counts tick in whole numbers, a figure by month shows every month of
 * its year, a pie names each slice with its value and share, and a figure without rows says so.
 * Charts are SVG, so their words are text in the page.
 *
 * What a reader who cannot see the picture gets: the box is an image named by its chart's
 * title and where its figures are (ECharts' aria), and under it a table of the same figures from
 * the same response, in a <details>. A figure without rows, or one that fails, is a sentence
 * in the page; the box is hidden. Series differ by pattern (aria.decal) as well as by colour.
 *
 * Loaded with `defer` after ECharts (deferred scripts run in order once the page is parsed);
 * if it is ever loaded without, it waits for the page. Without ECharts the tables still come.
 *
 * Two layouts of bars. Standing (periods, on a wide screen): one panel per unit, stacked, with
 * the periods along the bottom, so that a value written above its bar never meets another
 * unit's; used only when every value fits above its bar. Lying (named rows, phones, values too
 * wide to stand): a row per name, each value at its bar's end, units on axes below and above. */
(function () {
  "use strict";
  var root, WORDS, FAMILY;  // set by start(), once the page is there
  var LANG = document.documentElement.lang || "zh-Hans";
  var NARROW = 600;  // px of chart: below it bars lie down
  // Every bar, line and slice: at least 3:1 against the white page (WCAG 2.1 1.4.11); the
  // ratio of each is in its comment (tests/reports/test_console.py checks them). Also the
  // default palette, so that nothing ECharts colours by itself falls back to its pale one.
  // Series differ by pattern too (aria.decal), not by colour alone.
  var COLORS = [
    "#b3261e",  // red          6.54:1
    "#1565c0",  // blue         5.75:1
    "#2e7d32",  // green        5.13:1
    "#8a5a00",  // ochre        5.93:1
    "#6a1b9a",  // purple       9.39:1
    "#00838f",  // cyan         4.52:1
    "#c2185b",  // magenta      5.87:1
    "#455a64"   // blue-grey    7.24:1
  ];
  var INK = "#1a1a1a", MUTED = "#4f4f4f", GRID = "#e6e6e6";
  var FONT = 12;

  function numbers(options) { return new Intl.NumberFormat(LANG, options); }
  var whole = numbers({ maximumFractionDigits: 0 });
  var upToCents = numbers({ maximumFractionDigits: 2 });
  var cents = numbers({ minimumFractionDigits: 2, maximumFractionDigits: 2 });
  var compact = numbers({ notation: "compact", maximumSignificantDigits: 3 });
  var percent = numbers({ style: "percent", maximumFractionDigits: 1 });

  function fill(pattern, value, share) {
    return pattern.replace("{value}", value).replace("{share}", share);
  }

  // A value as a label: below 10 000 as it is (money with cents only when there are any), above
  // to three digits in the language's short form (1.7万, 17K). Tooltips give it exactly.
  function label(value, measure) {
    if (Math.abs(value) >= 10000) { return compact.format(value); }
    if (measure.kind !== "money") { return whole.format(value); }
    return (Math.round(value * 100) % 100 === 0 ? whole : cents).format(value);
  }
  function exact(value, measure) {
    return (measure.kind === "money" ? cents : whole).format(value) + " " + measure.unit;
  }
  function tick(value, axis) {
    if (Math.abs(value) >= 10000) { return compact.format(value); }
    return (axis.kind === "money" ? upToCents : whole).format(value);
  }

  var ruler = document.createElement("canvas").getContext("2d");
  function textWidth(text) {
    ruler.font = FONT + "px " + FAMILY;
    return ruler.measureText(text).width;
  }
  function widest(texts) {
    return texts.reduce(function (w, t) { return Math.max(w, textWidth(t)); }, 0);
  }

  function periodName(key, manyYears) {
    var parts = key.split("-").map(Number);
    if (parts.length === 1) {
      return new Intl.DateTimeFormat(LANG, { year: "numeric" }).format(new Date(parts[0], 0, 15));
    }
    var options = manyYears ? { year: "numeric", month: "short" } : { month: "short" };
    return new Intl.DateTimeFormat(LANG, options).format(new Date(parts[0], parts[1] - 1, 15));
  }

  // The report as names (one per bar, slice or period: every period of the span, zero where no
  // row) and the values of each measure; the columns name the measures, one axis per unit.
  function figures(report, spec) {
    var rows = report.rows, names, picked;
    var columns = {};
    report.columns.forEach(function (c) { columns[c.key] = c.label; });
    if (spec.layout === "period" && report.periods) {
      var byKey = {}, years = {};
      rows.forEach(function (r) { byKey[r[spec.category]] = r; });
      report.periods.forEach(function (p) { years[p.slice(0, 4)] = true; });
      var manyYears = Object.keys(years).length > 1;
      names = report.periods.map(function (p) { return periodName(p, manyYears); });
      picked = report.periods.map(function (p) { return byKey[p] || null; });
    } else {
      var rowYears = {};
      rows.forEach(function (r) { if (r.year) { rowYears[r.year] = true; } });
      var withYear = Object.keys(rowYears).length > 1;
      names = rows.map(function (r) {
        var name = String(r[spec.category] || "-");
        return withYear ? name + " " + r.year : name;
      });
      picked = rows;
    }
    var axes = [];
    var measures = spec.measures.map(function (m) {
      var axis = axes.findIndex(function (a) { return a.title === m.title; });
      if (axis < 0) { axes.push({ title: m.title, unit: m.unit, kind: m.kind }); axis = axes.length - 1; }
      var share = spec.shares[m.key];
      return {
        key: m.key, unit: m.unit, kind: m.kind, axis: axis, name: columns[m.key] || m.key,
        shareName: share ? columns[share] || share : null,
        values: picked.map(function (r) { return r ? Number(r[m.key]) || 0 : 0; }),
        shares: share ? picked.map(function (r) { return r && r[share] !== null ? Number(r[share]) : null; }) : null
      };
    });
    var head = columns[spec.category] || "";
    if (spec.layout === "period" && report.periods && report.periods.length) {
      head = report.periods[0].length > 4 ? WORDS.monthHead : WORDS.yearHead;
    }
    return { head: head, names: names, axes: axes, measures: measures };
  }

  function valueLabel(measure, i) {
    var value = measure.values[i];
    if (!value) { return ""; }  // a period without figures: no bar, no "0" over every gap
    var text = label(value, measure);
    var share = measure.shares && measure.shares[i];
    return share === null || share === undefined ? text : fill(WORDS.ofBudget, text, percent.format(share));
  }

  function valueLabels(measures) {
    var out = [];
    measures.forEach(function (m) { m.values.forEach(function (v, i) { out.push(valueLabel(m, i)); }); });
    return out;
  }

  // The legend (for more than one measure) and the height it takes: ECharts wraps a plain
  // legend but does not move the plot down, so the plot's top is set from this.
  function legend(measures, width) {
    if (measures.length < 2) { return { option: { show: false }, height: 0 }; }
    var line = 0, lines = 1;
    measures.forEach(function (m) {
      var item = 25 + 5 + textWidth(m.name) + 10;
      if (line && line + item > width - 20) { lines += 1; line = 0; }
      line += item;
    });
    return { option: { top: 0, left: "center", textStyle: { color: INK, fontSize: FONT } }, height: lines * 22 };
  }

  function valueAxis(axis, i, lying, narrow) {
    return {
      type: "value",
      name: axis.title,
      nameLocation: lying ? "middle" : "end",
      nameGap: lying ? 26 : 30,
      nameTextStyle: { color: INK, fontSize: FONT, fontWeight: "bold", align: lying ? "center" : "left" },
      position: lying ? (i ? "top" : "bottom") : "left",
      minInterval: axis.kind === "count" ? 1 : 0,
      splitNumber: narrow ? 4 : 5,
      axisLine: { show: true, lineStyle: { color: COLORS[i % COLORS.length], width: 2 } },
      axisTick: { show: true },
      axisLabel: { color: MUTED, fontSize: FONT, hideOverlap: true, formatter: function (v) { return tick(v, axis); } },
      splitLine: { show: !lying || i === 0, lineStyle: { color: GRID } }
    };
  }

  function series(m, s, lying, axisIndex) {
    var out = {
      name: m.name, type: "bar", data: m.values,
      itemStyle: { color: COLORS[s % COLORS.length] }, barMaxWidth: lying ? 22 : 40, barGap: "15%",
      label: {
        show: true, position: lying ? "right" : "top", distance: 4, fontSize: FONT, color: INK,
        formatter: function (p) { return valueLabel(m, p.dataIndex); }
      },
      tooltip: { valueFormatter: function (v) { return exact(v, m); } }
    };
    if (lying) {
      out.xAxisIndex = axisIndex;
    } else {
      out.xAxisIndex = out.yAxisIndex = axisIndex;  // standing: the panel of its unit
    }
    return out;
  }

  var PANEL = 150, ABOVE = 44, BELOW = 26;  // a standing panel, its axis title, its periods

  // The widest tick a standing value axis may show (its top is rounded up from the data).
  function tickRoom(data) {
    return Math.max.apply(null, data.axes.map(function (a, i) {
      var max = 0;
      data.measures.forEach(function (m) {
        if (m.axis === i) { max = Math.max(max, Math.max.apply(null, m.values)); }
      });
      return widest([tick(max, a), tick(max * 2, a)]);
    }));
  }

  // Whether each value, written above its bar, keeps clear of its neighbours' in every panel.
  function standingFits(data, width) {
    var plot = width - 24 - tickRoom(data) - 16;
    var band = plot / data.names.length;
    return data.axes.every(function (a, i) {
      var own = data.measures.filter(function (m) { return m.axis === i; });
      var k = own.length;
      var bar = Math.min(40, (0.8 * band) / (k + (k - 1) * 0.15));
      var apart = k > 1 ? Math.min(bar * 1.15, band - (k - 1) * bar * 1.15) : band;
      return widest(valueLabels(own)) + 6 <= apart;
    });
  }

  function standing(data, width) {
    var lg = legend(data.measures, width);
    var left = 12 + tickRoom(data) + 8;
    var grids = [], xAxes = [], yAxes = [];
    var top = lg.height + ABOVE;
    data.axes.forEach(function (a, i) {
      grids.push({ left: left, right: 16, top: top, height: PANEL });
      xAxes.push({
        type: "category", gridIndex: i, data: data.names,
        axisTick: { alignWithLabel: true }, axisLine: { lineStyle: { color: MUTED } },
        axisLabel: { interval: 0, color: INK, fontSize: FONT }
      });
      var y = valueAxis(a, i, false, true);  // a short panel: four steps at most
      y.gridIndex = i;
      yAxes.push(y);
      top += PANEL + BELOW + ABOVE;
    });
    return {
      height: top - ABOVE + 4,
      option: {
        legend: lg.option,
        grid: grids,
        xAxis: xAxes,
        yAxis: yAxes,
        axisPointer: { link: [{ xAxisIndex: "all" }] },
        series: data.measures.map(function (m, s) { return series(m, s, false, m.axis); })
      }
    };
  }

  function lying(data, width) {
    var narrow = width < NARROW;
    var lg = legend(data.measures, width);
    var nameWidth = narrow ? 84 : 200;
    var lines = Math.ceil(widest(data.names) / nameWidth);
    var band = Math.max(data.measures.length * 16 + 14, Math.min(lines, 3) * 16 + 12, 34);
    // Axis titles lie outside the plot and its tick labels: room for them above and below.
    var top = lg.height + (data.axes.length > 1 ? 26 : 8);
    var bottom = 26;
    return {
      height: top + bottom + data.axes.length * 20 + band * data.names.length,
      option: {
        legend: lg.option,
        grid: {
          left: 8, right: Math.max(16, widest(valueLabels(data.measures)) + 10),
          top: top, bottom: bottom, containLabel: true
        },
        yAxis: {
          type: "category", data: data.names, inverse: true,
          axisTick: { show: false }, axisLine: { lineStyle: { color: MUTED } },
          axisLabel: { interval: 0, color: INK, fontSize: FONT, width: nameWidth, overflow: "break", lineHeight: 16 }
        },
        xAxis: data.axes.map(function (a, i) { return valueAxis(a, i, true, narrow); }),
        series: data.measures.map(function (m, s) { return series(m, s, true, m.axis); })
      }
    };
  }

  function pie(data, width) {
    var narrow = width < NARROW;
    var m = data.measures[0];
    var slices = data.names.map(function (name, i) { return { name: name, value: m.values[i] }; })
      .filter(function (s) { return s.value > 0; });
    var total = slices.reduce(function (sum, s) { return sum + s.value; }, 0);
    return {
      height: narrow ? 300 + slices.length * 10 : 360,
      option: {
        series: [{
          type: "pie", radius: narrow ? "36%" : "58%", center: ["50%", "52%"],
          data: slices, color: COLORS, minShowLabelAngle: 0, avoidLabelOverlap: true,
          itemStyle: { borderColor: "#fff", borderWidth: 2 },
          label: {
            color: INK, fontSize: FONT, lineHeight: 17, alignTo: narrow ? "edge" : "none",
            edgeDistance: 4, width: narrow ? 132 : 220, overflow: "break",
            formatter: function (p) {
              return p.name + "\n" + fill(WORDS.withShare, label(p.value, m) + " " + m.unit,
                                          percent.format(total ? p.value / total : 0));
            }
          },
          labelLine: { length: narrow ? 10 : 16, length2: narrow ? 8 : 14 },
          tooltip: { valueFormatter: function (v) { return exact(v, m); } }
        }]
      }
    };
  }

  function build(item, width) {
    var spec = item.spec, data = item.data, drawn;
    if (spec.layout === "pie") {
      drawn = pie(data, width);
    } else if (spec.layout === "period" && width >= NARROW && standingFits(data, width)) {
      drawn = standing(data, width);
    } else {
      drawn = lying(data, width);
    }
    drawn.option.animation = false;
    drawn.option.color = COLORS;
    drawn.option.textStyle = { fontFamily: FAMILY };
    drawn.option.tooltip = { trigger: spec.layout === "pie" ? "item" : "axis", confine: true,
                             axisPointer: { type: "shadow" } };
    // ECharts writes the description into the box's aria-label (the box keeps role="img").
    drawn.option.aria = { enabled: true, label: { description: item.description }, decal: { show: true } };
    return drawn;
  }

  // The box is hidden and a sentence stands in its place (no words drawn inside a picture).
  function say(block, text, className) {
    block.querySelector("[data-chart]").hidden = true;
    block.querySelector(".chart-data").hidden = true;
    var p = block.querySelector(".chart-note");
    p.textContent = text;
    p.classList.add(className);
    p.hidden = false;
  }

  // The table's columns after the names: each measure exactly (money to the cent, counts whole,
  // each with its unit), then its share where the chart writes one (of the budget, of the pie).
  function tableColumns(spec, data) {
    var out = [];
    data.measures.forEach(function (m) {
      out.push({ head: m.name, cell: function (i) { return exact(m.values[i], m); } });
      if (m.shares) {
        out.push({ head: m.shareName, cell: function (i) {
          var share = m.shares[i];
          return share === null || share === undefined ? "—" : percent.format(share);
        } });
      }
    });
    if (spec.layout === "pie") {
      var m = data.measures[0];
      var total = m.values.reduce(function (sum, v) { return v > 0 ? sum + v : sum; }, 0);
      out.push({ head: WORDS.shareHead, cell: function (i) { return percent.format(m.values[i] / total); } });
    }
    return out;
  }

  function tableCell(tag, text, attributes) {
    var cell = document.createElement(tag);
    cell.textContent = text;
    Object.keys(attributes).forEach(function (k) { cell.setAttribute(k, attributes[k]); });
    return cell;
  }

  // The chart's figures as a table: a row per bar, slice or period it shows (a pie only its
  // slices), with the row's name as its header. On a phone (table.stack) each row is a card.
  function fillTable(block, spec, data) {
    var details = block.querySelector(".chart-data");
    var table = details.querySelector("table");
    var columns = tableColumns(spec, data);
    var rows = data.names.map(function (name, i) { return i; });
    if (spec.layout === "pie") { rows = rows.filter(function (i) { return data.measures[0].values[i] > 0; }); }
    var head = document.createElement("tr");
    head.appendChild(tableCell("th", data.head, { scope: "col" }));
    columns.forEach(function (c) { head.appendChild(tableCell("th", c.head, { scope: "col" })); });
    table.tHead.replaceChildren(head);
    table.tBodies[0].replaceChildren.apply(table.tBodies[0], rows.map(function (i) {
      var tr = document.createElement("tr");
      tr.appendChild(tableCell("th", data.names[i], { scope: "row" }));
      columns.forEach(function (c) { tr.appendChild(tableCell("td", c.cell(i), { "data-label": c.head })); });
      return tr;
    }));
    details.hidden = false;
    return details;
  }

  var drawn = [];

  function render(item) {
    var made = build(item, item.el.clientWidth);
    item.el.style.height = made.height + "px";
    item.chart.resize();
    item.chart.setOption(made.option, true);
  }

  function draw(block, report) {
    var el = block.querySelector("[data-chart]");
    var spec = JSON.parse(el.dataset.spec);
    var data = figures(report, spec);
    var anything = data.measures.some(function (m) { return m.values.some(function (v) { return v !== 0; }); });
    if (!report.rows.length || !anything) { say(block, WORDS.empty, "is-empty"); return; }
    if (!window.echarts) {  // the library did not load: the figures stand in for the picture
      el.hidden = true;
      fillTable(block, spec, data).open = true;
      return;
    }
    var title = block.querySelector("h2").textContent;
    var locale = LANG.slice(0, 2) === "zh" ? "ZH" : "EN";
    var item = {
      el: el, spec: spec, data: data, description: WORDS.described.replace("{title}", title),
      chart: window.echarts.init(el, null, { renderer: "svg", locale: locale })
    };
    drawn.push(item);
    render(item);
    fillTable(block, spec, data);
  }

  function start() {
    root = document.getElementById("stats");
    if (!root) { return; }
    WORDS = root.dataset;
    FAMILY = window.getComputedStyle(root).fontFamily;
    var pending = null;
    window.addEventListener("resize", function () {
      window.clearTimeout(pending);
      pending = window.setTimeout(function () { drawn.forEach(render); }, 150);
    });
    root.querySelectorAll(".chart-block").forEach(function (block) {
      var source = block.querySelector("[data-chart]").dataset.source;
      fetch(root.dataset.api + source, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (r) { return r.ok ? r.json() : Promise.reject(r.status); })
        .then(function (report) { draw(block, report); })
        .catch(function () { say(block, WORDS.failed, "is-failed"); });
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
}());
