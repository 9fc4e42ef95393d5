// A queue: its counts, its jobs by state with paging (ListJobs' page
// tokens), a search by job id or label, and its controls.
import * as api from './api.js';
import { el, replace, st, duration, time, rate, STATES } from './util.js';
import { act } from './actions.js';

const n = (x) => Number(x || 0);
const FINISHED = ['SUCCEEDED', 'DEAD', 'CANCELLED'];

// The queue's actions, in the order of their buttons: each posts to
// queues/{q}/{id of the action}. `show` decides from the queue's stats
// whether the button applies; `body` gives what it sends (from the purge
// choice, `purge`); `confirm` asks first.
const QUEUE_ACTIONS = [
  { id: 'pause', label: 'Pause', show: (q) => !q.paused },
  { id: 'resume', label: 'Resume', show: (q) => q.paused },
  { id: 'retry-dead', label: 'Retry dead', show: (q) => n(q.dead) > 0 },
  {
    id: 'purge', label: 'Purge', show: () => true,
    body: (purge) => ({ states: purge.states }),
    confirm: (q, purge) => `Remove the ${purge.label} jobs of queue ${q.name}?` +
      (purge.states.some((s) => !FINISHED.includes(s)) ? ' Unfinished ones are cancelled first, running ones stopped.' : '') +
      ' This cannot be undone.',
  },
];

// The limits form's fields: SetQueueLimits' names, and how each reads
// from the queue's stats (0: none).
const LIMIT_FIELDS = [
  { name: 'max_concurrency', label: 'max concurrency' },
  { name: 'max_queued', label: 'max queued' },
  { name: 'rate', label: 'starts/s', step: 'any' },
  { name: 'burst', label: 'burst' },
];

// What Purge removes, chosen beside its button.
const PURGE_CHOICES = [
  { value: 'DEAD', label: 'dead', states: ['DEAD'] },
  { value: 'CANCELLED', label: 'cancelled', states: ['CANCELLED'] },
  { value: 'SUCCEEDED', label: 'succeeded', states: ['SUCCEEDED'] },
  { value: 'FINISHED', label: 'finished', states: FINISHED },
  { value: 'QUEUED', label: 'queued (waiting, scheduled and ready)', states: ['WAITING', 'SCHEDULED', 'READY'] },
  { value: 'ALL', label: 'all', states: STATES },
];

export function queuePage(name, who) {
  const q = encodeURIComponent(name);
  let state = '';
  let label = '';
  // The page tokens that led to the pages before this one, to go back.
  const tokens = [''];
  let next = '';

  const counts = el('div', { class: 'cards', id: 'queue-counts' });
  const actions = el('div', { class: 'actions', id: 'queue-actions' });
  // Kept across refreshes, so that the choice stays while the page polls.
  const purgeChoice = who.admin ? el('select', { id: 'purge-states', 'aria-label': 'Jobs to purge' },
    PURGE_CHOICES.map((c) => el('option', { value: c.value }, c.label))) : null;
  const limits = who.admin ? limitsForm() : null;
  const tabs = el('nav', { class: 'tabs', id: 'state-tabs' },
    ['', ...STATES, 'FAILED'].map((s) => el('button', {
      type: 'button', class: s === state ? 'active' : '', dataset: { state: s || 'ALL' },
      onclick: (ev) => {
        state = s;
        tokens.length = 1;
        for (const b of tabs.children) b.classList.toggle('active', b === ev.target);
        refreshNow();
      },
    }, s ? s.toLowerCase() : 'all')));
  const search = el('form', { class: 'search', id: 'job-search', onsubmit: (ev) => {
    ev.preventDefault();
    const text = search.querySelector('input').value.trim();
    if (/^[0-9a-fA-F]{16}$/.test(text)) {
      location.hash = `#/job/${text.toLowerCase()}`;
      return;
    }
    label = text;
    tokens.length = 1;
    refreshNow();
  } },
  el('input', { type: 'search', name: 'q', placeholder: 'job id, or label key=value', 'aria-label': 'Search jobs' }),
  el('button', { type: 'submit' }, 'Search'));
  const tbody = el('tbody');
  const pager = el('div', { class: 'pager' });
  const root = el('section', { class: 'page queue' },
    el('p', { class: 'crumbs' }, el('a', { href: '#/' }, 'Overview'), ' › ', 'queue'),
    el('h1', {}, name, el('span', { class: 'tag paused', id: 'paused-tag', hidden: true }, 'paused')),
    counts, actions, limits, tabs, search,
    el('div', { class: 'scroll' }, el('table', { class: 'jobs', id: 'jobs' },
      el('thead', {}, el('tr', {}, el('th', {}, 'Job'), el('th', {}, 'State'),
        el('th', {}, 'Kind'), el('th', { class: 'n' }, 'Attempt'), el('th', {}, 'Created'),
        el('th', { class: 'n' }, 'Wait'), el('th', { class: 'n' }, 'Run'), el('th', {}, 'Labels'),
        el('th', {}, 'Error'))),
      tbody)),
    pager);

  // SetQueueLimits: a field left empty leaves its limit as it is (its
  // placeholder shows the current one); 0 removes a limit.
  function limitsForm() {
    const form = el('form', { class: 'limits', id: 'limits-form', onsubmit: async (ev) => {
      ev.preventDefault();
      const body = {};
      for (const f of LIMIT_FIELDS) {
        const v = form.elements[f.name].value.trim();
        if (v !== '') body[f.name] = Number(v);
      }
      if (Object.keys(body).length === 0) return;
      if (await act(() => api.post(`queues/${q}/limits`, body))) {
        for (const f of LIMIT_FIELDS) form.elements[f.name].value = '';
      }
    } },
    LIMIT_FIELDS.map((f) => el('label', {}, `${f.label} `,
      el('input', { type: 'number', min: 0, step: f.step || 1, name: f.name }))),
    el('button', { type: 'submit' }, 'Set limits'));
    return form;
  }

  async function update() {
    const params = new URLSearchParams();
    if (state) params.set('state', state);
    if (label) params.set('label', label);
    const token = tokens[tokens.length - 1];
    if (token) params.set('page_token', token);
    params.set('page_size', '50');
    const [queues, list] = await Promise.all([
      api.get('queues'), api.get(`queues/${q}/jobs?${params}`)]);
    const stats = (queues.queues || []).find((x) => x.name === name) || { name };
    root.querySelector('#paused-tag').hidden = !stats.paused;
    replace(counts, STATES.map((s) => el('div', { class: 'card', dataset: { state: s } },
      el('span', { class: 'label' }, s.toLowerCase()), el('span', { class: 'value' }, n(stats[s.toLowerCase()])))),
    el('div', { class: 'card' }, el('span', { class: 'label' }, 'in/s · out/s'),
      el('span', { class: 'value' }, `${rate(stats.submit_rate)} · ${rate(stats.complete_rate)}`)),
    el('div', { class: 'card' }, el('span', { class: 'label' }, 'limits'),
      el('span', { class: 'value', id: 'queue-limits' }, `${stats.max_concurrency || '∞'} running · ${n(stats.max_queued) || '∞'} queued` +
        (stats.rate ? ` · ${rate(stats.rate)}/s, burst ${stats.burst || Math.max(1, Math.floor(stats.rate / 10))}` : ''))));
    replace(actions, who.admin ? QUEUE_ACTIONS.filter((a) => a.show(stats)).map((a) => [
      a.id === 'purge' ? purgeChoice : null,
      el('button', {
        type: 'button', dataset: { action: a.id, queue: name },
        onclick: () => {
          const purge = PURGE_CHOICES.find((c) => c.value === purgeChoice.value);
          if (a.confirm && !window.confirm(a.confirm(stats, purge))) return;
          act(() => api.post(`queues/${q}/${a.id}`, a.body ? a.body(purge) : undefined));
        },
      }, a.label)]).flat() : []);
    if (limits) {
      for (const f of LIMIT_FIELDS) limits.elements[f.name].placeholder = String(n(stats[f.name]));
    }
    next = list.next_page_token || '';
    replace(tbody, (list.jobs || []).map(jobRow));
    if ((list.jobs || []).length === 0) {
      replace(tbody, el('tr', {}, el('td', { colspan: 9, class: 'muted' }, 'No jobs.')));
    }
    replace(pager,
      el('button', { type: 'button', disabled: tokens.length <= 1 ? true : null, onclick: () => {
        tokens.pop();
        refreshNow();
      } }, '‹ Previous'),
      el('span', { class: 'muted' }, `page ${tokens.length}`),
      el('button', { type: 'button', id: 'next-page', disabled: next ? null : true, onclick: () => {
        tokens.push(next);
        refreshNow();
      } }, 'Next ›'));
  }
  function refreshNow() { act(async () => {}); }
  return { root, update };
}

function jobRow(j) {
  const t = j.timings || {};
  return el('tr', { dataset: { job: j.id } },
    el('td', {}, el('a', { href: `#/job/${j.id}`, class: 'mono' }, j.id)),
    el('td', {}, el('span', { class: `state ${st(j.state)}` }, st(j.state))),
    el('td', {}, j.spec && j.spec.kind),
    el('td', { class: 'n' }, j.attempt),
    el('td', {}, time(j.created_at)),
    el('td', { class: 'n' }, duration(t.queue_wait)),
    el('td', { class: 'n' }, duration(t.run_time)),
    el('td', {}, Object.entries((j.spec && j.spec.labels) || {}).map(([k, v]) => el('span', { class: 'tag' }, `${k}=${v}`))),
    el('td', { class: 'error' }, j.error || ''));
}
