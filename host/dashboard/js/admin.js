// Admin pages: every store with its owner, the platform audit log with filters, and engine
// plugins (versions with digest and state; upload with the validation report; activate, roll
// back, disable, enable).

import * as api from './api.js';
import { h, replace, when, alert } from './dom.js';
import { storesPage } from './stores.js';

/** `built-in`, `upload`, `directory (file)`. */
function originOf(origin) {
  if (!origin || typeof origin === 'string') return origin || '';
  if (origin.kind === 'builtin') return 'built-in';
  if (origin.kind === 'directory' && origin.detail) return `directory (${origin.detail})`;
  return origin.kind;
}

/** The page shown to a non-admin who opened an admin page. */
export function adminOnly(root) {
  replace(root, h('h1', {}, 'Admins only'), alert('error', 'This page is for administrators.'));
}

/** The heading of a page narrowed to one user, with the way back to everyone. */
function narrowedHeading(title, everyoneHref, everyoneLabel) {
  return h('div', { class: 'row spread' }, h('h1', {}, title), h('a', { href: everyoneHref }, everyoneLabel));
}

/** Every store; with `owner` (a user id, from the Users page) only that user's. */
export function adminStoresView(root, owner) {
  const heading = owner
    ? narrowedHeading('Stores of one user', '#/admin/stores', 'Show every store')
    : h('h1', {}, 'All stores');
  return storesPage(root, { heading, admin: true, owner: owner || '', onForbidden: () => adminOnly(root) });
}

/** The platform audit log; with `actor` (a user id, from the Users page) only their events. */
export async function auditView(root, actor) {
  const state = { eventType: '', storeId: '', actor: actor || '', offset: 0 };
  const pageSize = 50;
  const list = h('div');
  const eventType = h('input', { id: 'audit-type', type: 'text', placeholder: 'e.g. store.ready, auth.login_failed' });
  const storeId = h('input', { id: 'audit-store', type: 'text', placeholder: '12 hex characters' });
  const load = async () => {
    const params = new URLSearchParams({ limit: String(pageSize), offset: String(state.offset) });
    if (state.eventType) params.set('eventType', state.eventType);
    if (state.storeId) params.set('storeId', state.storeId);
    if (state.actor) params.set('actorId', state.actor);
    try {
      const reply = await api.get(`/audit?${params}`);
      const rows = reply.logs.map((e) => h('tr', {},
        h('td', { 'data-label': 'When' }, when(e.createdAt)),
        h('td', { 'data-label': 'Action' }, h('code', {}, e.action)),
        h('td', { 'data-label': 'Store' }, e.storeId ? h('a', { href: `#/stores/${e.storeId}` }, e.storeId) : ''),
        h('td', { 'data-label': 'Actor' }, e.actorEmail
          ? h('span', { title: e.actorId }, e.actorEmail) : h('span', { class: 'mono' }, e.actorId || 'system')),
        h('td', { 'data-label': 'Message' }, e.message)));
      const last = Math.min(state.offset + pageSize, reply.total);
      replace(list,
        h('p', { class: 'muted' }, reply.total ? `${state.offset + 1}–${last} of ${reply.total}` : 'No events match.'),
        h('table', { class: 'responsive' },
          h('thead', {}, h('tr', {}, h('th', {}, 'When'), h('th', {}, 'Action'), h('th', {}, 'Store'), h('th', {}, 'Actor'), h('th', {}, 'Message'))),
          h('tbody', {}, ...rows)),
        h('div', { class: 'row' },
          h('button', { type: 'button', class: 'secondary', disabled: state.offset === 0,
            onclick: () => { state.offset = Math.max(0, state.offset - pageSize); load(); } }, 'Newer'),
          h('button', { type: 'button', class: 'secondary', disabled: last >= reply.total,
            onclick: () => { state.offset += pageSize; load(); } }, 'Older')));
    } catch (error) {
      if (error.status === 403) return adminOnly(root);
      replace(list, alert('error', error.message));
    }
  };
  const form = h('form', { class: 'filters' },
    h('div', {}, h('label', { for: 'audit-type' }, 'Action'), eventType),
    h('div', {}, h('label', { for: 'audit-store' }, 'Store id'), storeId),
    h('div', {}, h('button', { type: 'submit' }, 'Filter')));
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    Object.assign(state, { eventType: eventType.value.trim(), storeId: storeId.value.trim(), offset: 0 });
    load();
  });
  const heading = state.actor
    ? narrowedHeading('Audit log of one user', '#/admin/audit', 'Show everyone\'s events')
    : h('h1', {}, 'Audit log');
  replace(root, heading, form, list);
  await load();
}

export async function pluginsView(root) {
  const message = h('div', { 'aria-live': 'polite' });
  const list = h('div');
  const act = async (label, path, body) => {
    replace(message);
    try {
      await api.post(path, body);
      replace(message, alert('ok', label));
    } catch (error) {
      replace(message, alert('error', error.message));
    }
    await load();
  };
  const load = async () => {
    let reply;
    try {
      reply = await api.get('/admin/plugins');
    } catch (error) {
      if (error.status === 403) return adminOnly(root);
      replace(list, alert('error', error.message));
      return;
    }
    replace(list, ...reply.engines.map((engine) => h('section', { class: 'card', 'data-engine': engine.id },
      h('div', { class: 'row spread' },
        h('h2', {}, engine.id, engine.disabled ? ' (disabled)' : ''),
        h('div', { class: 'row' },
          h('button', { type: 'button', class: 'secondary', onclick: () => act(`Rolled back ${engine.id}.`, `/admin/plugins/${engine.id}/rollback`, {}) }, 'Roll back'),
          engine.disabled
            ? h('button', { type: 'button', class: 'secondary', onclick: () => act(`Enabled ${engine.id}.`, `/admin/plugins/${engine.id}/enable`, {}) }, 'Enable')
            : h('button', { type: 'button', class: 'secondary', onclick: () => act(`Disabled ${engine.id}.`, `/admin/plugins/${engine.id}/disable`, {}) }, 'Disable'))),
      h('table', { class: 'responsive' },
        h('thead', {}, h('tr', {}, h('th', {}, 'Version'), h('th', {}, 'Digest'), h('th', {}, 'Origin'), h('th', {}, 'State'), h('th', {}, ''))),
        h('tbody', {}, ...engine.versions.map((v) => h('tr', { 'data-version': v.version },
          h('td', { 'data-label': 'Version' }, v.version),
          h('td', { 'data-label': 'Digest', class: 'mono', title: v.digest }, v.digest.slice(0, 12)),
          h('td', { 'data-label': 'Origin' }, originOf(v.origin)),
          h('td', { 'data-label': 'State' }, v.active ? h('span', { class: 'badge ready' }, 'active') : h('span', { class: 'muted' }, 'registered')),
          h('td', { 'data-label': '' }, v.active ? '' : h('button', { type: 'button', class: 'secondary',
            onclick: () => act(`Activated ${engine.id} ${v.version}.`, `/admin/plugins/${engine.id}/${v.version}/activate`, {}) },
          `Activate ${v.version}`)))))))));
  };
  const file = h('input', { id: 'plugin-file', type: 'file', accept: '.wasm,application/wasm' });
  const upload = h('form', { class: 'card' },
    h('h2', {}, 'Upload a plugin version'),
    h('label', { for: 'plugin-file' }, 'Component (.wasm)'), file,
    h('p', { class: 'help' }, 'It is validated (loaded, described, planned for sample stores, its chart rendered and checked) before it can be activated.'),
    h('div', { class: 'row' }, h('button', { type: 'submit' }, 'Upload')));
  upload.addEventListener('submit', async (event) => {
    event.preventDefault();
    replace(message);
    const chosen = file.files[0];
    if (!chosen) {
      replace(message, alert('error', 'Choose a .wasm file first.'));
      return;
    }
    try {
      const reply = await api.request('POST', '/admin/plugins', { raw: await chosen.arrayBuffer(), contentType: 'application/wasm' });
      const p = reply.plugin;
      replace(message, alert('ok', `Uploaded ${p.engine} ${p.version} (${p.digest.slice(0, 12)}). Activate it below.`));
    } catch (error) {
      const problems = (error.details && error.details.problems) || [];
      replace(message, alert('error', h('strong', {}, error.message),
        problems.length ? h('ul', { 'data-testid': 'validation-report' }, ...problems.map((p) => h('li', {}, p))) : null));
    }
    upload.reset();
    await load();
  });
  replace(root, h('h1', {}, 'Engine plugins'), message, upload, list);
  await load();
}
