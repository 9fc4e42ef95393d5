// Recurring schedules: each one's spec, time zone, next run, last job and
// whether it is paused, with Pause, Resume and Trigger for admin tokens
// (POST schedules/{name}/{action}).
import * as api from './api.js';
import { el, replace, time } from './util.js';
import { act } from './actions.js';

// The schedule's actions, in the order of their buttons; `show` decides
// from the schedule whether the button applies.
const SCHEDULE_ACTIONS = [
  { id: 'pause', label: 'Pause', show: (s) => !s.paused },
  { id: 'resume', label: 'Resume', show: (s) => s.paused },
  { id: 'trigger', label: 'Trigger', show: () => true },
];

export function schedulesPage(who) {
  const tbody = el('tbody');
  const root = el('section', { class: 'page schedules' },
    el('h1', {}, 'Schedules'),
    el('div', { class: 'scroll' }, el('table', { id: 'schedules' },
      el('thead', {}, el('tr', {}, el('th', {}, 'Schedule'), el('th', {}, 'Spec'), el('th', {}, 'Time zone'),
        el('th', {}, 'Queue'), el('th', {}, 'Next run'), el('th', {}, 'Last job'), el('th', {}, 'Paused'),
        who.admin ? el('th', {}, '') : null)), tbody)));

  function row(s) {
    const job = s.job || {};
    return el('tr', { dataset: { schedule: s.name, paused: Boolean(s.paused) } },
      el('td', {}, s.name),
      el('td', { class: 'mono' }, s.spec),
      el('td', {}, s.time_zone || 'UTC'),
      el('td', {}, el('a', { href: `#/queue/${encodeURIComponent(job.queue || 'default')}` }, job.queue || 'default')),
      el('td', {}, s.paused ? '–' : time(s.next_run)),
      el('td', { dataset: { col: 'last-job' } }, s.last_job_id
        ? [el('a', { href: `#/job/${s.last_job_id}`, class: 'mono' }, s.last_job_id), ' ', el('span', { class: 'muted' }, time(s.last_run))]
        : el('span', { class: 'muted' }, 'none yet')),
      el('td', {}, s.paused ? el('span', { class: 'tag paused' }, 'paused') : 'no'),
      who.admin ? el('td', { class: 'actions' }, SCHEDULE_ACTIONS.filter((a) => a.show(s)).map((a) => el('button', {
        type: 'button', dataset: { action: a.id, schedule: s.name },
        onclick: () => act(() => api.post(`schedules/${encodeURIComponent(s.name)}/${a.id}`)),
      }, a.label))) : null);
  }

  async function update() {
    const list = await api.get('schedules');
    const all = list.schedules || [];
    replace(tbody, all.length ? all.map(row)
      : el('tr', {}, el('td', { colspan: who.admin ? 8 : 7, class: 'muted' }, 'No schedules. Create one with jobqctl schedule create.')));
  }
  return { root, update };
}
