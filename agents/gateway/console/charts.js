// Inline SVG charts without a library: a scatter with its y = x diagonal, and line series.
// Shared shape with the coordinator console's copy (the two packages may not import each other).
"use strict";

const SVG_NS = "http://www.w3.org/2000/svg";

function svgEl(name, attrs, text) {
  const el = document.createElementNS(SVG_NS, name);
  for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, String(v));
  if (text !== undefined) el.textContent = text;
  return el;
}

function extent(values) {
  let lo = Math.min(...values);
  let hi = Math.max(...values);
  if (!Number.isFinite(lo) || !Number.isFinite(hi)) return [0, 1];
  if (lo === hi) {
    const pad = Math.abs(lo) * 0.1 || 1;
    lo -= pad;
    hi += pad;
  }
  return [lo, hi];
}

function frame(svg, w, h, m, xr, yr, xlabel, ylabel) {
  svg.replaceChildren();
  svg.setAttribute("viewBox", `0 0 ${w} ${h}`);
  const sx = (x) => m + ((x - xr[0]) / (xr[1] - xr[0])) * (w - 2 * m);
  const sy = (y) => h - m - ((y - yr[0]) / (yr[1] - yr[0])) * (h - 2 * m);
  svg.appendChild(svgEl("rect", { x: m, y: m, width: w - 2 * m, height: h - 2 * m, class: "plot-area" }));
  svg.appendChild(svgEl("text", { x: w / 2, y: h - 4, "text-anchor": "middle", class: "axis" }, xlabel));
  svg.appendChild(
    svgEl("text", { x: 10, y: h / 2, transform: `rotate(-90 10 ${h / 2})`, "text-anchor": "middle", class: "axis" }, ylabel),
  );
  const fmt = (v) => (Math.abs(v) >= 1000 ? v.toExponential(1) : Number(v.toPrecision(3)).toString());
  svg.appendChild(svgEl("text", { x: m, y: h - m + 12, class: "tick" }, fmt(xr[0])));
  svg.appendChild(svgEl("text", { x: w - m, y: h - m + 12, "text-anchor": "end", class: "tick" }, fmt(xr[1])));
  svg.appendChild(svgEl("text", { x: m - 2, y: h - m, "text-anchor": "end", class: "tick" }, fmt(yr[0])));
  svg.appendChild(svgEl("text", { x: m - 2, y: m + 8, "text-anchor": "end", class: "tick" }, fmt(yr[1])));
  return [sx, sy];
}

// points: [{x, y, label}] ; draws y = x so a point off the diagonal is a prediction error.
function scatterChart(svg, points, xlabel, ylabel) {
  const w = 320, h = 220, m = 34;
  const all = points.flatMap((p) => [p.x, p.y]);
  const r = extent(all.length ? all : [0, 1]);
  const [sx, sy] = frame(svg, w, h, m, r, r, xlabel, ylabel);
  svg.appendChild(svgEl("line", { x1: sx(r[0]), y1: sy(r[0]), x2: sx(r[1]), y2: sy(r[1]), class: "diagonal" }));
  for (const p of points) {
    const dot = svgEl("circle", { cx: sx(p.x), cy: sy(p.y), r: 3.5, class: "dot", "data-testid": "scatter-point" });
    dot.appendChild(svgEl("title", {}, p.label || `${p.x}, ${p.y}`));
    svg.appendChild(dot);
  }
}

// series: [{name, points: [[x, y], ...]}]
function lineChart(svg, series, xlabel, ylabel) {
  const w = 320, h = 180, m = 34;
  const xs = series.flatMap((s) => s.points.map((p) => p[0]));
  const ys = series.flatMap((s) => s.points.map((p) => p[1]));
  const [sx, sy] = frame(svg, w, h, m, extent(xs.length ? xs : [0, 1]), extent(ys.length ? ys : [0, 1]), xlabel, ylabel);
  series.forEach((s, i) => {
    if (!s.points.length) return;
    const d = s.points.map((p, j) => `${j ? "L" : "M"}${sx(p[0]).toFixed(1)},${sy(p[1]).toFixed(1)}`).join(" ");
    svg.appendChild(svgEl("path", { d, class: `series s${i % 4}` }));
    for (const p of s.points) svg.appendChild(svgEl("circle", { cx: sx(p[0]), cy: sy(p[1]), r: 2, class: `pt s${i % 4}` }));
  });
}

window.charts = { scatterChart, lineChart };
