// The overview: every queue with its jobs by state, rates, running against
// its limit and whether it is paused; charts of throughput and timings
// over the last 15 minutes from /api/v1/samples.
import * as api from './api.js';
import { el, replace, duration, rate, STATES } from './util.js';
import { act } from './actions.js';

const n = (x) => Number(x || 0);

function queueRow(q, who) {
  const limit = q.max_concurrency ? ` / ${q.max_concurrency}` : '';
  const actions = who.admin ? el('td', { class: 'actions' },
    q.paused
      ? el('button', { type: 'button', dataset: { action: 'resume', queue: q.name },
          onclick: () => act(() => api.post(`queues/${encodeURIComponent(q.name)}/resume`)) }, 'Resume')
      : el('button', { type: 'button', dataset: { action: 'pause', queue: q.name },
          onclick: () => act(() => api.post(`queues/${encodeURIComponent(q.name)}/pause`)) }, 'Pause'))
    : null;
  return el('tr', { dataset: { queue: q.name } },
    el('th', { scope: 'row' }, el('a', { href: `#/queue/${encodeURIComponent(q.name)}` }, q.name),
      q.paused ? el('span', { class: 'tag paused', dataset: { paused: 'true' } }, 'paused') : null),
    STATES.map((s) => el('td', { class: 'n', dataset: { state: s } }, n(q[s.toLowerCase()]))),
    el('td', { class: 'n', dataset: { col: 'running-limit' } }, `${n(q.running)}${limit}`),
    el('td', { class: 'n' }, rate(q.submit_rate)),
    el('td', { class: 'n' }, rate(q.complete_rate)),
    el('td', { class: 'n' }, quantile(q.queue_wait, 'p90')),
    el('td', { class: 'n' }, quantile(q.run_time, 'p90')),
    actions);
}

// A quantile of a Quantiles message, or '–' while nothing was recorded.
function quantile(qs, which) {
  return qs && Number(qs.count) > 0 ? duration(qs[which]) : '–';
}

// One Dygraph, created once its container is in the page and the data
// has at least one point; updated in place afterwards.
function chart(container, title, ylabel) {
  let g = null;
  return {
    set(rows, labels) {
      if (rows.length === 0 || typeof Dygraph === 'undefined') return;
      // Samples that arrive after the page was left: a detached container
      // has no layout (Dygraph would find no size and complain).
      if (!container.isConnected) return;
      if (g === null) {
        g = new Dygraph(container, rows, {
          labels, title, ylabel, legend: 'always', labelsSeparateLines: false,
          connectSeparatedPoints: true, includeZero: true, animatedZooms: false,
          height: 220,
        });
      } else {
        g.updateOptions({ file: rows, labels });
      }
    },
    destroy() { if (g) g.destroy(); },
  };
}

function seriesRows(samples, queues, field) {
  // One column per queue, over the union of the sample times.
  const byTime = new Map();
  queues.forEach((q, i) => {
    for (const p of samples.queues[q] || []) {
      if (!byTime.has(p.t)) byTime.set(p.t, new Array(queues.length).fill(null));
      byTime.get(p.t)[i] = p[field];
    }
  });
  return [...byTime.entries()].sort((a, b) => a[0] - b[0])
    .map(([t, vals]) => [new Date(t), ...vals]);
}

function totalRows(samples, queues) {
  const byTime = new Map();
  for (const q of queues) {
    for (const p of samples.queues[q] || []) {
      const r = byTime.get(p.t) || [0, 0];
      r[0] += p.in;
      r[1] += p.out;
      byTime.set(p.t, r);
    }
  }
  return [...byTime.entries()].sort((a, b) => a[0] - b[0])
    .map(([t, [i, o]]) => [new Date(t), i, o]);
}

export function overviewPage(who) {
  const summary = el('div', { class: 'cards', id: 'summary' });
  const tbody = el('tbody');
  const table = el('table', { class: 'queues', id: 'queues' },
    el('thead', {}, el('tr', {},
      el('th', {}, 'Queue'), STATES.map((s) => el('th', { class: 'n' }, s.toLowerCase())),
      el('th', { class: 'n' }, 'running / limit'), el('th', { class: 'n' }, 'in/s'),
      el('th', { class: 'n' }, 'out/s'), el('th', { class: 'n' }, 'wait p90'),
      el('th', { class: 'n' }, 'run p90'), who.admin ? el('th', {}, '') : null)),
    tbody);
  // Dygraphs wants a container without padding: the box holds it.
  const throughputEl = el('div', { class: 'chart', id: 'chart-throughput' });
  const waitEl = el('div', { class: 'chart', id: 'chart-wait' });
  const runEl = el('div', { class: 'chart', id: 'chart-run' });
  const box = (c) => el('div', { class: 'chart-box' }, c);
  const charts = [
    chart(throughputEl, 'Jobs per second (all queues)', 'jobs/s'),
    chart(waitEl, 'Mean queue wait (ms)', 'ms'),
    chart(runEl, 'Mean run time (ms)', 'ms'),
  ];
  const root = el('section', { class: 'page overview' },
    el('h1', {}, 'Overview'), summary,
    el('div', { class: 'scroll' }, table),
    el('p', { class: 'muted', id: 'empty', hidden: true }, 'No queues yet: submit a job to create one.'),
    el('h2', {}, 'Last 15 minutes'),
    el('div', { class: 'charts' }, box(throughputEl), box(waitEl), box(runEl)));

  async function update() {
    const [stats, samples] = await Promise.all([api.get('stats'), api.get('samples')]);
    const t = stats.total || {};
    replace(summary,
      card('queued', n(t.waiting) + n(t.scheduled) + n(t.ready)), card('running', n(t.running)),
      card('in/s', rate(t.submit_rate)), card('out/s', rate(t.complete_rate)),
      card('dead', n(t.dead)), card('workers', `${stats.remote_workers || 0} remote`),
      card('uptime', duration(stats.uptime)), card('version', stats.version));
    const queues = stats.queues || [];
    replace(tbody, queues.map((q) => queueRow(q, who)));
    root.querySelector('#empty').hidden = queues.length > 0;
    const names = Object.keys(samples.queues).filter((q) => queues.some((x) => x.name === q));
    charts[0].set(totalRows(samples, names), ['time', 'in', 'out']);
    if (names.length > 0) {
      charts[1].set(seriesRows(samples, names, 'wait_ms'), ['time', ...names]);
      charts[2].set(seriesRows(samples, names, 'run_ms'), ['time', ...names]);
    }
  }
  return {
    root, update,
    unmount() { charts.forEach((c) => c.destroy()); },
  };
}

function card(label, value) {
  return el('div', { class: 'card' }, el('span', { class: 'label' }, label),
    el('span', { class: 'value' }, value));
}

