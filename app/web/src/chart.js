// Small SVG charts: stacked bars and lines with a labelled axis, a legend outside the plot, and a <title>
// tooltip per point. Values arrive as Numbers already scaled for display (charts are the only place where
// amounts leave bigint, and only to be drawn).
import { s, h } from './dom.js';

const PALETTE = ['#2f6fdf', '#e0a03a', '#d05a5a', '#7a8699', '#3aa37a', '#8a5bd6'];

function niceMax(v) {
  if (v <= 0) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

function fmt(v) {
  if (Math.abs(v) >= 1e6) return (v / 1e6).toFixed(1) + 'M';
  if (Math.abs(v) >= 1e3) return (v / 1e3).toFixed(1) + 'k';
  return Number.isInteger(v) ? String(v) : v.toFixed(2);
}

/**
 * bars({title, labels, series: [{name, values}], unit, width, height}) -> figure element.
 * Series stack on one another (e.g. net, fee, energy, credits make up an epoch's gross).
 */
export function bars({ title, labels, series, unit = '', width = 520, height = 200 }) {
  const pad = { l: 48, r: 8, t: 10, b: 24 };
  const w = width - pad.l - pad.r;
  const hgt = height - pad.t - pad.b;
  const totals = labels.map((_, i) => series.reduce((acc, se) => acc + Math.max(0, se.values[i] || 0), 0));
  const max = niceMax(Math.max(0, ...totals));
  const bw = labels.length ? w / labels.length : w;
  const svg = s('svg', { viewBox: `0 0 ${width} ${height}`, class: 'chart', role: 'img', 'aria-label': title });
  axis(svg, pad, w, hgt, max, unit);
  labels.forEach((label, i) => {
    let y = pad.t + hgt;
    series.forEach((se, k) => {
      const v = Math.max(0, se.values[i] || 0);
      const bh = (v / max) * hgt;
      y -= bh;
      svg.append(s('rect', { x: pad.l + i * bw + bw * 0.15, y, width: Math.max(1, bw * 0.7), height: bh, fill: PALETTE[k % PALETTE.length] },
        s('title', {}, `${label}: ${se.name} ${fmt(v)} ${unit}`)));
    });
    if (labels.length <= 16 || i % Math.ceil(labels.length / 12) === 0) {
      svg.append(s('text', { x: pad.l + i * bw + bw / 2, y: height - 6, class: 'tick', 'text-anchor': 'middle' }, String(label)));
    }
  });
  return figure(title, svg, series);
}

/** lines({title, labels, series: [{name, values}], unit, max}) -> figure element. */
export function lines({ title, labels, series, unit = '', max, width = 520, height = 200 }) {
  const pad = { l: 48, r: 8, t: 10, b: 24 };
  const w = width - pad.l - pad.r;
  const hgt = height - pad.t - pad.b;
  const top = max ?? niceMax(Math.max(0, ...series.flatMap((se) => se.values)));
  const svg = s('svg', { viewBox: `0 0 ${width} ${height}`, class: 'chart', role: 'img', 'aria-label': title });
  axis(svg, pad, w, hgt, top, unit);
  const step = labels.length > 1 ? w / (labels.length - 1) : 0;
  series.forEach((se, k) => {
    const pts = se.values.map((v, i) => [pad.l + i * step, pad.t + hgt - (Math.max(0, v) / top) * hgt]);
    svg.append(s('polyline', { points: pts.map((p) => p.join(',')).join(' '), fill: 'none', stroke: PALETTE[k % PALETTE.length], 'stroke-width': 2 }));
    pts.forEach((p, i) => svg.append(s('circle', { cx: p[0], cy: p[1], r: 3, fill: PALETTE[k % PALETTE.length] },
      s('title', {}, `${labels[i]}: ${se.name} ${fmt(se.values[i])} ${unit}`))));
  });
  labels.forEach((label, i) => {
    if (labels.length <= 16 || i % Math.ceil(labels.length / 12) === 0) {
      svg.append(s('text', { x: pad.l + i * step, y: height - 6, class: 'tick', 'text-anchor': 'middle' }, String(label)));
    }
  });
  return figure(title, svg, series);
}

/** A sparkline (no axis) for table rows. */
export function spark(values, width = 96, height = 24) {
  const max = Math.max(1e-9, ...values);
  const step = values.length > 1 ? width / (values.length - 1) : 0;
  const pts = values.map((v, i) => `${i * step},${height - 2 - (v / max) * (height - 4)}`).join(' ');
  return s('svg', { viewBox: `0 0 ${width} ${height}`, class: 'spark', width, height, 'aria-hidden': 'true' },
    s('polyline', { points: pts, fill: 'none', stroke: PALETTE[0], 'stroke-width': 1.5 }));
}

function axis(svg, pad, w, hgt, max, unit) {
  for (let i = 0; i <= 4; i++) {
    const y = pad.t + hgt - (i / 4) * hgt;
    svg.append(s('line', { x1: pad.l, x2: pad.l + w, y1: y, y2: y, class: 'grid' }));
    svg.append(s('text', { x: pad.l - 6, y: y + 4, class: 'tick', 'text-anchor': 'end' }, fmt((max * i) / 4)));
  }
  if (unit) svg.append(s('text', { x: 4, y: pad.t + 8, class: 'tick unit' }, unit));
}

function figure(title, svg, series) {
  return h('figure', { class: 'chart-box' },
    h('figcaption', {}, title),
    svg,
    series.length > 1 ? h('div', { class: 'legend' }, series.map((se, k) =>
      h('span', {}, h('i', { class: `swatch c${k}` }), se.name))) : null);
}
