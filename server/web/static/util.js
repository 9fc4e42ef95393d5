// Small DOM and formatting helpers of the dashboard's pages.

// Creates an element: el('td', {class: 'n', dataset: {state: 'READY'}}, 'text', child...).
export function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'dataset') Object.assign(e.dataset, v);
    else if (k === 'onclick') e.addEventListener('click', v);
    else if (k === 'onsubmit') e.addEventListener('submit', v);
    else if (k === 'class') e.className = v;
    else e.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

export function replace(parent, ...children) {
  parent.replaceChildren(...children.flat().filter((c) => c !== null && c !== undefined));
}

// "12.3 ms" from a google.protobuf.Duration's JSON ("0.012300s").
export function duration(d) {
  if (d === undefined || d === null || d === '') return '–';
  const s = typeof d === 'number' ? d : parseFloat(String(d).replace(/s$/, ''));
  if (!isFinite(s)) return '–';
  if (s < 0.001) return `${(s * 1e6).toFixed(0)} µs`;
  if (s < 1) return `${(s * 1e3).toFixed(1)} ms`;
  if (s < 120) return `${s.toFixed(2)} s`;
  return `${(s / 60).toFixed(1)} min`;
}

export function ms(x) {
  if (x === null || x === undefined) return '–';
  return duration(x / 1000);
}

// A Timestamp's JSON ("2026-12-01T00:20:00.123Z") as local time, or '–'.
export function time(ts) {
  if (!ts || ts.startsWith('1970-01-01')) return '–';
  const d = new Date(ts);
  return d.toLocaleString(undefined, { hour12: false }) + `.${String(d.getMilliseconds()).padStart(3, '0')}`;
}

export function rate(x) {
  if (!x) return '0';
  return x >= 100 ? x.toFixed(0) : x.toFixed(1);
}

export const STATES = ['WAITING', 'SCHEDULED', 'READY', 'RUNNING', 'SUCCEEDED', 'DEAD', 'CANCELLED'];

// "READY" from the proto's JSON name "JOB_STATE_READY".
export function st(state) { return String(state || '').replace(/^JOB_STATE_/, ''); }
