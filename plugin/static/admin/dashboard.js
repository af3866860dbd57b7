// Dashboard charts from the JSON the page embeds. Every series differs by line style and marker or by a hatch
// pattern, not only by colour; each chart has the same numbers in a table beside it.
(function () {
  "use strict";
  var source = document.getElementById("dashboard-data");
  if (!source || typeof Chart === "undefined") return;
  var data = JSON.parse(source.textContent);
  var dark = window.matchMedia && window.matchMedia("(prefers-color-scheme: dark)").matches;
  var ink = dark ? "#e6edf3" : "#1f2328";
  var blue = dark ? "#4493f8" : "#0969da";
  var orange = dark ? "#f0883e" : "#bc4c00";
  var grey = dark ? "#9198a1" : "#57606a";
  Chart.defaults.color = ink;
  Chart.defaults.font.size = 13;

  function hatch(colour) {
    var canvas = document.createElement("canvas");
    canvas.width = canvas.height = 8;
    var ctx = canvas.getContext("2d");
    ctx.strokeStyle = colour;
    ctx.lineWidth = 2;
    ctx.beginPath();
    ctx.moveTo(0, 8); ctx.lineTo(8, 0);
    ctx.moveTo(-2, 2); ctx.lineTo(2, -2);
    ctx.moveTo(6, 10); ctx.lineTo(10, 6);
    ctx.stroke();
    return ctx.createPattern(canvas, "repeat");
  }

  var overTime = document.getElementById("chart-over-time");
  if (overTime && data.over_time.length) {
    var labels = data.over_time.map(function (r) { return r.period; });
    var datasets = [
      // A period with few responses keeps its point, hollow and grey: visible, but not read as a cliff.
      { label: "CSAT %", data: data.over_time.map(function (r) { return r.csat; }), borderColor: blue,
        backgroundColor: blue, pointStyle: "circle", yAxisID: "y", spanGaps: true,
        pointRadius: data.over_time.map(function (r) { return r.small_sample ? 3 : 4; }),
        pointBorderColor: data.over_time.map(function (r) { return r.small_sample ? grey : blue; }),
        pointBackgroundColor: data.over_time.map(function (r) { return r.small_sample ? "transparent" : blue; }),
        segment: { borderDash: function (ctx) {
          var a = data.over_time[ctx.p0DataIndex], b = data.over_time[ctx.p1DataIndex];
          return a.small_sample || b.small_sample ? [2, 4] : undefined;
        } } },
      { label: "Response rate %", data: data.over_time.map(function (r) { return r.response_rate; }),
        borderColor: orange, backgroundColor: orange, borderDash: [8, 5], pointStyle: "triangle", pointRadius: 5,
        yAxisID: "y", spanGaps: true }
    ];
    var hasNps = data.over_time.some(function (r) { return r.nps !== null; });
    if (hasNps) {
      datasets.push({ label: "NPS", data: data.over_time.map(function (r) { return r.nps; }), borderColor: grey,
        backgroundColor: grey, borderDash: [2, 3], pointStyle: "rect", pointRadius: 4, yAxisID: "nps", spanGaps: true });
    }
    var scales = { y: { min: 0, max: 100, title: { display: true, text: "%" } } };
    if (hasNps) scales.nps = { position: "right", min: -100, max: 100, title: { display: true, text: "NPS" },
      grid: { drawOnChartArea: false } };
    new Chart(overTime, { type: "line", data: { labels: labels, datasets: datasets },
      options: { maintainAspectRatio: false, animation: false, scales: scales,
        plugins: { legend: { labels: { usePointStyle: true } } } } });
  }

  var agents = document.getElementById("chart-agents");
  var ranked = data.agents.filter(function (r) { return r.rank !== null; });
  if (agents && ranked.length) {
    agents.parentNode.style.height = Math.max(180, 60 + 34 * ranked.length) + "px";
    new Chart(agents, { type: "bar",
      data: { labels: ranked.map(function (r) { return r.rank + ". " + r.name; }), datasets: [
        { label: "Lower bound %", data: ranked.map(function (r) { return r.csat_lower_bound; }),
          backgroundColor: blue, borderColor: blue, borderWidth: 1 },
        { label: "CSAT %", data: ranked.map(function (r) { return r.csat; }),
          backgroundColor: hatch(orange), borderColor: orange, borderWidth: 2 }
      ] },
      options: { indexAxis: "y", maintainAspectRatio: false, animation: false,
        scales: { x: { min: 0, max: 100, title: { display: true, text: "%" } } } } });
  } else if (agents) {
    agents.parentNode.style.display = "none";
  }

  data.distribution.forEach(function (dist, index) {
    var canvas = document.getElementById("chart-distribution-" + index);
    if (!canvas) return;
    new Chart(canvas, { type: "bar",
      data: { labels: dist.points.map(function (p) { return String(p.score) === p.label ? p.label : p.score + " " + p.label; }), datasets: [{
        label: "Ratings", data: dist.points.map(function (p) { return p.count; }),
        backgroundColor: dist.points.map(function (p) { return p.satisfied ? hatch(blue) : grey; }),
        borderColor: dist.points.map(function (p) { return p.satisfied ? blue : grey; }), borderWidth: 2 }] },
      options: { maintainAspectRatio: false, animation: false, plugins: { legend: { display: false } },
        scales: { y: { beginAtZero: true, ticks: { precision: 0 } } } } });
  });
})();
