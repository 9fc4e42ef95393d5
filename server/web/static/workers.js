// Remote workers: their kinds, queues, capacity and the jobs they hold
// under a lease; and the kinds' waiting and running jobs.
import * as api from './api.js';
import { el, replace, time } from './util.js';

export function workersPage() {
  const tbody = el('tbody');
  const kinds = el('tbody');
  const root = el('section', { class: 'page workers' },
    el('h1', {}, 'Workers'),
    el('div', { class: 'scroll' }, el('table', { id: 'workers' },
      el('thead', {}, el('tr', {}, el('th', {}, 'Worker'), el('th', {}, 'Kinds'), el('th', {}, 'Queues'),
        el('th', { class: 'n' }, 'Leases / capacity'), el('th', {}, 'Connected'), el('th', {}, 'Last heartbeat'),
        el('th', {}, 'Peer'))), tbody)),
    el('h2', {}, 'Kinds'),
    el('div', { class: 'scroll' }, el('table', { id: 'kinds' },
      el('thead', {}, el('tr', {}, el('th', {}, 'Kind'), el('th', { class: 'n' }, 'Waiting'),
        el('th', { class: 'n' }, 'Running'), el('th', { class: 'n' }, 'Workers'),
        el('th', { class: 'n' }, 'Capacity'))), kinds)));
  async function update() {
    const [list, stats] = await Promise.all([api.get('workers'), api.get('stats')]);
    const ws = list.workers || [];
    replace(tbody, ws.length ? ws.map((w) => el('tr', { dataset: { worker: w.worker_id } },
      el('td', { class: 'mono' }, w.worker_id), el('td', {}, (w.kinds || []).join(', ')),
      el('td', {}, (w.queues || []).join(', ') || 'all'),
      el('td', { class: 'n' }, `${w.in_flight} / ${w.concurrency}`),
      el('td', {}, time(w.connected_at)), el('td', {}, time(w.last_heartbeat)), el('td', {}, w.peer)))
      : el('tr', {}, el('td', { colspan: 7, class: 'muted' }, 'No remote worker is connected.')));
    const ks = stats.kinds || [];
    replace(kinds, ks.length ? ks.map((k) => el('tr', {}, el('td', {}, k.kind),
      el('td', { class: 'n' }, Number(k.waiting || 0)), el('td', { class: 'n' }, Number(k.running || 0)),
      el('td', { class: 'n' }, k.workers || 0), el('td', { class: 'n' }, Number(k.capacity || 0))))
      : el('tr', {}, el('td', { colspan: 5, class: 'muted' }, 'No remote kinds.')));
  }
  return { root, update };
}
