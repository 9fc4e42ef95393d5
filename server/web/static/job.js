// A job: its spec and labels, its timeline (created, ready, started,
// finished, with the timings between), its attempts (the last 20 runs:
// when, how long, where and how each ended), result or error, and cancel,
// retry and delete. The state changes seen while the page is open are
// listed too, as they happen.
import * as api from './api.js';
import { el, replace, st, duration, time } from './util.js';
import { act } from './actions.js';

const FINISHED = ['SUCCEEDED', 'DEAD', 'CANCELLED'];

// "SUCCEEDED" from the proto's JSON name "ATTEMPT_OUTCOME_SUCCEEDED".
const outcomeName = (o) => String(o || '').replace(/^ATTEMPT_OUTCOME_/, '');
// An attempt's outcome, styled like the job state it led to.
const OUTCOME_CLASS = { SUCCEEDED: 'SUCCEEDED', FAILED: 'FAILED', LOST: 'SCHEDULED', CANCELLED: 'CANCELLED', RUNNING: 'RUNNING' };

// Seconds between two Timestamps' JSON, or null.
function between(from, to) {
  if (!from || !to) return null;
  return (Date.parse(to) - Date.parse(from)) / 1000;
}

function attemptRow(a) {
  const outcome = outcomeName(a.outcome);
  return el('tr', { dataset: { attempt: a.number, outcome } },
    el('td', { class: 'n' }, a.number),
    el('td', {}, time(a.started_at)),
    el('td', {}, time(a.finished_at)),
    el('td', { class: 'n', dataset: { col: 'run-time' } }, duration(between(a.started_at, a.finished_at))),
    el('td', { class: a.worker ? 'mono' : 'muted' }, a.worker || 'jobqd'),
    el('td', {}, el('span', { class: `state ${OUTCOME_CLASS[outcome] || ''}` }, outcome.toLowerCase())),
    el('td', { class: 'error' }, a.error || '',
      a.exit_code && !String(a.error || '').includes(`exit status ${a.exit_code}`) ? ` (exit ${a.exit_code})` : ''));
}

// The job's actions, in the order of their buttons: each posts to
// jobs/{id}/{id of the action}. `show` decides from the job and the
// token's roles whether the button applies; `confirm` asks first; a job
// deleted leaves its page for its queue's.
const RETRYABLE = ['DEAD', 'CANCELLED'];
const mayAct = (who) => who.admin || who.submit;
const JOB_ACTIONS = [
  { id: 'cancel', label: 'Cancel', show: (j, who) => !FINISHED.includes(j.state) && mayAct(who) },
  { id: 'retry', label: 'Retry', show: (j, who) => RETRYABLE.includes(j.state) && mayAct(who) },
  {
    id: 'delete', label: 'Delete', show: (j, who) => FINISHED.includes(j.state) && mayAct(who),
    confirm: 'Delete this job? jobqd forgets it; its idempotency key stays remembered.', leaves: true,
  },
];

function decode(b64) {
  if (!b64) return '';
  try {
    return new TextDecoder().decode(Uint8Array.from(atob(b64), (c) => c.charCodeAt(0)));
  } catch (e) {
    return `(${b64.length} bytes, base64) ${b64}`;
  }
}

export function jobPage(id, who) {
  const head = el('div', { id: 'job-head' });
  const actions = el('div', { class: 'actions', id: 'job-actions' });
  const timeline = el('ol', { class: 'timeline', id: 'timeline' });
  const attempts = el('table', { class: 'attempts', id: 'attempts' });
  const spec = el('dl', { class: 'spec', id: 'spec' });
  const outcome = el('div', { id: 'outcome' });
  const seen = el('ol', { class: 'seen', id: 'seen' });
  const root = el('section', { class: 'page job' },
    el('p', { class: 'crumbs' }, el('a', { href: '#/' }, 'Overview'), ' › ',
      el('a', { id: 'queue-link', href: '#/' }, 'queue'), ' › job'),
    el('h1', { class: 'mono' }, id), head, actions,
    el('div', { class: 'columns' },
      el('div', {}, el('h2', {}, 'Timeline'), timeline,
        el('h2', {}, 'Outcome'), outcome),
      el('div', {}, el('h2', {}, 'Spec'), spec,
        el('h2', {}, 'Seen while this page is open'), seen)),
    el('h2', {}, 'Attempts'), el('div', { class: 'scroll' }, attempts));
  let last = null;
  let deleted = false;

  async function update() {
    if (deleted) return;
    const j = await api.get(`jobs/${encodeURIComponent(id)}`);
    j.state = st(j.state);
    const s = j.spec || {};
    const link = root.querySelector('#queue-link');
    link.textContent = s.queue;
    link.href = `#/queue/${encodeURIComponent(s.queue)}`;
    replace(head, el('span', { class: `state ${j.state}`, id: 'job-state' }, j.state),
      ` attempt ${j.attempt} of ${(s.retry && s.retry.max_attempts) || 1}`,
      j.worker ? ` · on worker ${j.worker}` : '');
    replace(actions, JOB_ACTIONS.filter((a) => a.show(j, who)).map((a) => el('button', {
      type: 'button', dataset: { action: a.id },
      onclick: () => {
        if (a.confirm && !window.confirm(a.confirm)) return;
        act(async () => {
          await api.post(`jobs/${encodeURIComponent(id)}/${a.id}`);
          if (a.leaves) {
            deleted = true;
            location.hash = `#/queue/${encodeURIComponent(s.queue)}`;
          }
        });
      },
    }, a.label)));
    const t = j.timings || {};
    const steps = [
      ['created', j.created_at, null],
      ['ready', j.ready_at, null],
      ['started', j.started_at, ['queue wait', t.queue_wait]],
      ['finished', j.finished_at, ['run time', t.run_time]],
    ];
    replace(timeline, steps.filter(([, at]) => at && !at.startsWith('1970')).map(([what, at, gap]) =>
      el('li', { dataset: { step: what } },
        gap ? el('span', { class: 'gap' }, `${gap[0]} ${duration(gap[1])}`) : null,
        el('span', { class: 'what' }, what), el('time', {}, time(at)))),
    t.total ? el('li', { class: 'total' }, `total ${duration(t.total)}`) : null);
    const runs = j.attempts || [];
    const dropped = runs.length ? Number(runs[0].dropped_before || 0) : 0;
    replace(attempts,
      el('thead', {}, el('tr', {}, el('th', { class: 'n' }, 'Attempt'), el('th', {}, 'Started'), el('th', {}, 'Finished'),
        el('th', { class: 'n' }, 'Run time'), el('th', {}, 'Where'), el('th', {}, 'Outcome'), el('th', {}, 'Error'))),
      el('tbody', {}, runs.length ? runs.map(attemptRow)
        : el('tr', {}, el('td', { colspan: 7, class: 'muted' }, 'Not run yet.'))),
      dropped ? el('caption', { id: 'attempts-dropped' }, `${dropped} earlier attempts are not kept (jobqd keeps the last 20).`) : null);
    replace(outcome,
      j.error ? el('p', { class: 'error', id: 'job-error' }, j.error) : null,
      j.exit_code ? el('p', {}, `exit code ${j.exit_code}`) : null,
      j.result ? el('pre', { id: 'job-result' }, decode(j.result)) : null,
      !j.error && !j.result ? el('p', { class: 'muted' }, FINISHED.includes(j.state) ? 'No output.' : 'Not finished.') : null);
    replace(spec, [
      ['queue', s.queue], ['kind', s.kind], ['priority', s.priority || 0],
      ['delay', s.delay ? duration(s.delay) : null], ['run at', s.run_at ? time(s.run_at) : null],
      ['timeout', s.timeout ? duration(s.timeout) : null],
      ['max attempts', (s.retry && s.retry.max_attempts) || 1],
      ['idempotency key', s.idempotency_key || null],
      ['payload', s.payload ? decode(s.payload) : null],
    ].filter(([, v]) => v !== null && v !== undefined && v !== '').flatMap(([k, v]) => [el('dt', {}, k), el('dd', {}, String(v))]),
    Object.keys(s.labels || {}).length ? [el('dt', {}, 'labels'), el('dd', {},
      Object.entries(s.labels).map(([k, v]) => el('span', { class: 'tag' }, `${k}=${v}`)))] : []);
    const key = `${j.state}/${j.attempt}`;
    if (key !== last) {
      seen.append(el('li', {}, el('span', { class: `state ${j.state}` }, j.state),
        ` attempt ${j.attempt} · seen ${new Date().toLocaleTimeString(undefined, { hour12: false })}`));
      last = key;
    }
  }
  return { root, update };
}
