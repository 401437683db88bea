// Admin Rollouts page: start a rollout of an engine version to existing stores (canary,
// batch size, concurrency, pause, failure budget), the list of rollouts, and one rollout
// followed live (server-sent events) with each store's result and Pause / Resume / Abort.

import * as api from './api.js';
import { h, replace, when, alert, badge } from './dom.js';
import { adminOnly } from './admin.js';

const ACTIVE = ['running', 'paused', 'aborting'];

function counts(rollout) {
  const c = rollout.counts || {};
  return Object.keys(c).sort().map((k) => `${c[k]} ${k}`).join(' · ') || '—';
}

function numberField(id, label, value, min, max, help) {
  return h('div', { class: 'field' },
    h('label', { for: id }, label),
    h('input', { id, type: 'number', min: String(min), max: String(max), value: String(value), required: '' }),
    help ? h('small', { class: 'muted' }, help) : null);
}

/** The form that starts a rollout; `onStarted(rollout)` after it started. */
async function startForm(onStarted) {
  const problem = h('div');
  const { engines } = await api.get('/admin/plugins');
  const engine = h('select', { id: 'rollout-engine' }, ...engines.map((e) => h('option', { value: e.id }, e.id)));
  const version = h('select', { id: 'rollout-version' });
  const fillVersions = () => {
    const chosen = engines.find((e) => e.id === engine.value);
    replace(version, ...((chosen && chosen.versions) || []).map((v) =>
      h('option', { value: v.version, selected: v.active ? '' : undefined }, `${v.version}${v.active ? ' (active)' : ''}`)));
  };
  engine.addEventListener('change', fillVersions);
  fillVersions();
  const form = h('form', { class: 'stack', 'aria-label': 'Start a rollout' },
    h('div', { class: 'row' },
      h('div', { class: 'field' }, h('label', { for: 'rollout-engine' }, 'Engine'), engine),
      h('div', { class: 'field' }, h('label', { for: 'rollout-version' }, 'Version'), version)),
    h('div', { class: 'row' },
      numberField('rollout-canary', 'Canary stores', 1, 0, 1000, 'upgraded first; any failure stops the rollout'),
      numberField('rollout-batch', 'Batch size', 10, 1, 1000),
      numberField('rollout-inflight', 'At most at once', 5, 1, 100),
      numberField('rollout-pause', 'Pause between batches (s)', 0, 0, 86400),
      numberField('rollout-budget', 'Failure budget', 0, 0, 100000, 'failures tolerated before it stops')),
    problem,
    h('button', { type: 'submit' }, 'Start the rollout'));
  const value = (id) => Number(form.querySelector(`#${id}`).value);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    try {
      const reply = await api.post('/admin/rollouts', {
        engine: engine.value,
        version: version.value,
        settings: {
          canary: value('rollout-canary'), batchSize: value('rollout-batch'), maxInFlight: value('rollout-inflight'),
          pauseSeconds: value('rollout-pause'), failureBudget: value('rollout-budget'),
        },
      });
      onStarted(reply.rollout);
    } catch (error) {
      const details = Array.isArray(error.details) ? `: ${error.details.join('; ')}` : '';
      replace(problem, alert('error', `${error.message}${details}`));
    }
  });
  return form;
}

/** Every rollout, and the form to start one. */
export async function rolloutsView(root) {
  const list = h('div');
  const load = async () => {
    let reply;
    try {
      reply = await api.get('/admin/rollouts?limit=50');
    } catch (error) {
      if (error.status === 403) return adminOnly(root);
      replace(list, alert('error', error.message));
      return;
    }
    if (!reply.rollouts.length) {
      replace(list, h('p', { class: 'muted' }, 'No rollout yet.'));
      return;
    }
    replace(list, h('table', {},
      h('thead', {}, h('tr', {}, ...['Rollout', 'Version', 'State', 'Started'].map((t) => h('th', {}, t)))),
      h('tbody', {}, ...reply.rollouts.map((r) => h('tr', { 'data-rollout': String(r.id) },
        h('td', {}, h('a', { href: `#/admin/rollouts/${r.id}` }, `#${r.id}`)),
        h('td', {}, `${r.engine} ${r.version}`),
        h('td', {}, badge(r.state)),
        h('td', {}, when(r.createdAt)))))));
  };
  let form;
  try {
    form = await startForm((rollout) => { location.hash = `#/admin/rollouts/${rollout.id}`; });
  } catch (error) {
    if (error.status === 403) return adminOnly(root);
    form = alert('error', error.message);
  }
  replace(root, h('h1', {}, 'Rollouts'),
    h('section', { class: 'card', 'aria-labelledby': 'start-title' }, h('h2', { id: 'start-title' }, 'Start a rollout'), form),
    h('section', { class: 'card', 'aria-labelledby': 'list-title' }, h('h2', { id: 'list-title' }, 'Rollouts'), list));
  await load();
  return undefined;
}

/** One rollout, live. */
export async function rolloutView(root, id) {
  const header = h('div');
  const actions = h('div', { class: 'row' });
  const problem = h('div');
  const table = h('div');
  let current = null;
  const act = async (action) => {
    try {
      render(await api.post(`/admin/rollouts/${id}/${action}`));
      replace(problem);
    } catch (error) {
      replace(problem, alert('error', error.message));
    }
  };
  const render = (body) => {
    current = body;
    const r = body.rollout;
    replace(header,
      h('div', { class: 'row spread' }, h('h1', {}, `Rollout #${r.id}: ${r.engine} ${r.version}`),
        h('span', { 'data-testid': 'rollout-state' }, badge(r.state))),
      h('p', { 'data-testid': 'rollout-counts' }, counts(r)),
      r.reason ? h('p', { class: 'muted', 'data-testid': 'rollout-reason' }, r.reason) : null,
      h('p', { class: 'muted' }, `canary ${r.settings.canary}, batches of ${r.settings.batchSize}, at most ${r.settings.maxInFlight} at once, `
        + `${r.settings.pauseSeconds} s between batches, failure budget ${r.settings.failureBudget}`));
    const buttons = [];
    if (r.state === 'running') buttons.push(h('button', { type: 'button', class: 'secondary', onclick: () => act('pause') }, 'Pause'));
    if (r.state === 'paused') buttons.push(h('button', { type: 'button', onclick: () => act('resume') }, 'Resume'));
    if (r.state === 'running' || r.state === 'paused') {
      buttons.push(h('button', { type: 'button', class: 'danger', onclick: () => act('abort') }, 'Abort (the current batch goes back)'));
    }
    replace(actions, ...buttons);
    replace(table, h('table', {},
      h('thead', {}, h('tr', {}, ...['#', 'Store', 'Batch', 'From', 'Result', 'Detail'].map((t) => h('th', {}, t)))),
      h('tbody', {}, ...body.stores.map((m) => h('tr', { 'data-store': m.storeId, 'data-state': m.state },
        h('td', {}, String(m.position + 1)),
        h('td', {}, h('a', { href: `#/stores/${m.storeId}` }, m.storeId)),
        h('td', {}, m.batch === 0 ? 'canary' : String(m.batch)),
        h('td', {}, m.fromVersion),
        h('td', {}, m.state),
        h('td', { class: 'muted' }, m.detail || ''))))));
  };
  try {
    render(await api.get(`/admin/rollouts/${id}`));
  } catch (error) {
    if (error.status === 403) return adminOnly(root);
    replace(root, alert('error', error.message));
    return undefined;
  }
  replace(root, h('p', {}, h('a', { href: '#/admin/rollouts' }, '← All rollouts')), header, actions, problem,
    h('section', { class: 'card', 'aria-labelledby': 'stores-title' }, h('h2', { id: 'stores-title' }, 'Stores'), table));
  if (!ACTIVE.includes(current.rollout.state) && !(current.stores || []).some((m) => ['upgrading', 'reverting'].includes(m.state))) {
    return undefined;
  }
  return api.liveEvents(`/admin/rollouts/${id}/events`, 'rollout', render, { once: true });
}
