// The Pareto overview: the curve (cumulative share of sales against share of customers, best
// customers first) with the tier boundaries, drawn with Plotly from the page's JSON block.
(function () {
  "use strict";

  const TIER_COLOURS = ["#1f4e79", "#4f86b8", "#9dbbd8", "#c77d00", "#7a5a00", "#5b6476"];

  function drawCurve() {
    const box = document.getElementById("pareto-curve");
    const node = document.getElementById("pareto-data");
    if (!box || !node || !window.Plotly) return;
    const data = JSON.parse(node.textContent);
    if (!data.curve.length) return;
    const pct = function (v) { return Math.round(v * 10000) / 100; };
    const traces = [
      {
        type: "scatter",
        mode: "lines",
        name: "Equal shares",
        x: [0, 100],
        y: [0, 100],
        line: { color: "#aab3c2", dash: "dot", width: 1 },
        hoverinfo: "skip",
      },
      {
        type: "scatter",
        mode: "lines",
        name: "Cumulative sales",
        x: data.curve.map(function (p) { return pct(p.x); }),
        y: data.curve.map(function (p) { return pct(p.y); }),
        line: { color: "#1f4e79", width: 3, shape: "linear" },
        hovertemplate: "Best %{x:.1f} % of customers: %{y:.1f} % of sales<extra></extra>",
      },
    ];
    const tiers = data.tiers.filter(function (t) { return t.boundary; });
    traces.push({
      type: "scatter",
      mode: "markers+text",
      name: "Tier boundaries",
      x: tiers.map(function (t) { return pct(t.boundary.x); }),
      y: tiers.map(function (t) { return pct(t.boundary.y); }),
      text: tiers.map(function (t) { return t.name; }),
      textposition: "top left",
      cliponaxis: false,
      marker: { size: 10, color: tiers.map(function (t, i) { return TIER_COLOURS[i % TIER_COLOURS.length]; }) },
      hovertemplate: tiers.map(function (t) {
        return t.name + ": the best " + pct(t.boundary.x).toFixed(1) + " % of customers hold " +
          pct(t.boundary.y).toFixed(1) + " % of sales<extra></extra>";
      }),
    });
    // Shade each tier's stretch of customers and draw its boundary.
    const shapes = [];
    let start = 0;
    data.tiers.forEach(function (t, i) {
      if (!t.boundary) return;
      const end = pct(t.boundary.x);
      shapes.push({
        type: "rect", xref: "x", yref: "paper", x0: start, x1: end, y0: 0, y1: 1,
        fillcolor: TIER_COLOURS[i % TIER_COLOURS.length], opacity: 0.08, line: { width: 0 }, layer: "below",
      });
      shapes.push({
        type: "line", xref: "x", yref: "paper", x0: end, x1: end, y0: 0, y1: 1,
        line: { color: TIER_COLOURS[i % TIER_COLOURS.length], width: 1, dash: "dash" },
      });
      start = end;
    });
    window.Plotly.newPlot(box, traces, {
      margin: { l: 60, r: 20, t: 20, b: 50 },
      font: { family: "system-ui, sans-serif", size: 13, color: "#1d2433" },
      xaxis: { title: { text: "Share of customers (%), best first" }, range: [0, 100], ticksuffix: " %", zeroline: false },
      yaxis: { title: { text: "Cumulative share of sales (%)" }, range: [0, 102], ticksuffix: " %", zeroline: false },
      shapes: shapes,
      showlegend: false,
      hovermode: "closest",
    }, { displayModeBar: false, responsive: true });
  }

  // The run picker shows the chosen run at once.
  document.querySelectorAll("select[data-autosubmit]").forEach(function (select) {
    select.addEventListener("change", function () { select.form.submit(); });
  });
  drawCurve();
})();
