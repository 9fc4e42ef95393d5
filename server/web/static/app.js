// The dashboard's shell: the token form, the routes (#/, #/queue/NAME,
// #/job/ID, #/workers, #/schedules) and the polling that keeps the open page live.
import * as api from './api.js';
import { replace } from './util.js';
import { setHooks } from './actions.js';
import { overviewPage } from './overview.js';
import { queuePage } from './queue.js';
import { jobPage } from './job.js';
import { workersPage } from './workers.js';
import { schedulesPage } from './schedules.js';

const POLL_MS = 1500;
const main = document.getElementById('main');
const banner = document.getElementById('banner');

// What the token may do ({read, admin, submit}), from /api/v1/whoami.
let who = null;
let page = null;
let timer = 0;

function showError(e) {
  if (!e) {
    banner.hidden = true;
    return;
  }
  banner.textContent = e.field ? `${e.message}` : String(e.message || e);
  banner.hidden = false;
}

function route() {
  const parts = location.hash.replace(/^#\/?/, '').split('/').map(decodeURIComponent);
  if (parts[0] === 'queue' && parts[1]) return { name: 'queue', make: () => queuePage(parts[1], who) };
  if (parts[0] === 'job' && parts[1]) return { name: 'job', make: () => jobPage(parts[1], who) };
  if (parts[0] === 'workers') return { name: 'workers', make: () => workersPage(who) };
  if (parts[0] === 'schedules') return { name: 'schedules', make: () => schedulesPage(who) };
  return { name: 'overview', make: () => overviewPage(who) };
}

async function refresh() {
  if (!page) return;
  try {
    await page.update();
    showError(null);
  } catch (e) {
    if (e.status === 401) {
      signIn(e.message);
      return;
    }
    showError(e);
  }
}

function schedule() {
  clearTimeout(timer);
  timer = setTimeout(async () => {
    await refresh();
    if (page) schedule();
  }, POLL_MS);
}

async function open() {
  if (page && page.unmount) page.unmount();
  const r = route();
  for (const a of document.querySelectorAll('[data-nav]')) {
    a.classList.toggle('active', a.dataset.nav === r.name);
  }
  page = r.make();
  replace(main, page.root);
  document.body.dataset.page = r.name;
  await refresh();
  schedule();
}

function signIn(message) {
  clearTimeout(timer);
  if (page && page.unmount) page.unmount();
  page = null;
  document.body.dataset.page = 'sign-in';
  const form = document.getElementById('token-form-template').content.cloneNode(true);
  replace(main, form);
  const error = document.getElementById('token-error');
  if (message && api.token()) error.textContent = message;
  document.getElementById('token-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    api.setToken(document.getElementById('token-input').value.trim());
    await start();
  });
}

async function start() {
  try {
    who = await api.get('whoami');
  } catch (e) {
    showError(e);
    return;
  }
  const whoEl = document.getElementById('who');
  const forget = document.getElementById('forget-token');
  forget.hidden = !who.auth_required || !api.token();
  if (who.auth_required && !who.authenticated) {
    whoEl.textContent = '';
    signIn(who.message);
    return;
  }
  if (who.auth_required && !who.read && !who.admin) {
    signIn('this token has neither the read nor the admin role');
    return;
  }
  whoEl.textContent = who.auth_required
    ? `${who.name} (${who.admin ? 'admin' : 'read only'})` : '';
  showError(null);
  await open();
}

document.getElementById('forget-token').addEventListener('click', () => {
  api.forgetToken();
  location.hash = '#/';
  start();
});
setHooks({ refresh, showError });
window.addEventListener('hashchange', () => { if (who && page) open(); });
start();

