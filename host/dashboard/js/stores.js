// The caller's stores: status badges, engine, creation time, filters by status and engine,
// live updates from the all-stores event stream.

import * as api from './api.js';
import { h, replace, badge, when, alert } from './dom.js';

const STATUSES = ['requested', 'provisioning', 'ready', 'failed', 'upgrading', 'suspending', 'suspended', 'resuming', 'deleting', 'deleted'];

/** A table of stores; `withOwner` adds the owner column (admin view). Returns the element and
 * an `update(store)` that inserts or refreshes a row. */
function storeTable(stores, { withOwner = false, filter = () => true } = {}) {
  const body = h('tbody');
  const rows = new Map();
  const row = (s) => h('tr', { 'data-store-id': s.id },
    h('td', { 'data-label': 'Name' }, h('a', { href: `#/stores/${s.id}` }, s.name)),
    h('td', { 'data-label': 'Status' }, badge(s.status),
      s.progress ? h('span', { class: 'muted' }, ` ${s.progress.step} (${s.progress.index}/${s.progress.of})`) : null),
    h('td', { 'data-label': 'Engine' }, s.engine),
    withOwner ? h('td', { 'data-label': 'Owner' }, s.ownerEmail
      ? h('span', { title: s.ownerId }, s.ownerEmail) : h('span', { class: 'mono' }, s.ownerId || '')) : null,
    h('td', { 'data-label': 'Created' }, when(s.createdAt)));
  const update = (s) => {
    const existing = rows.get(s.id);
    if (!filter(s)) {
      if (existing) existing.remove();
      rows.delete(s.id);
      return;
    }
    const fresh = row(s);
    if (existing) existing.replaceWith(fresh);
    else body.prepend(fresh);
    rows.set(s.id, fresh);
    empty.hidden = rows.size > 0;
  };
  const empty = h('p', { class: 'muted' }, 'No stores here yet.');
  stores.forEach((s) => {
    const r = row(s);
    rows.set(s.id, r);
    body.append(r);
  });
  empty.hidden = rows.size > 0;
  const table = h('table', { class: 'responsive' },
    h('thead', {}, h('tr', {}, h('th', {}, 'Name'), h('th', {}, 'Status'), h('th', {}, 'Engine'),
      withOwner ? h('th', {}, 'Owner') : null, h('th', {}, 'Created'))),
    body);
  return { element: h('div', {}, table, empty), update };
}

/** Status and engine filter controls; calls `onChange({status, engine})`. */
async function filters(initial, onChange) {
  let engines = [];
  try {
    engines = (await api.get('/engines')).engines.map((e) => e.id);
  } catch {
    engines = [];
  }
  const status = h('select', { id: 'filter-status' }, h('option', { value: '' }, 'Active (not deleted)'),
    ...STATUSES.map((s) => h('option', { value: s, selected: initial.status === s }, s)));
  const engine = h('select', { id: 'filter-engine' }, h('option', { value: '' }, 'Any engine'),
    ...engines.map((e) => h('option', { value: e, selected: initial.engine === e }, e)));
  const changed = () => onChange({ status: status.value, engine: engine.value });
  status.addEventListener('change', changed);
  engine.addEventListener('change', changed);
  return h('div', { class: 'filters' },
    h('div', {}, h('label', { for: 'filter-status' }, 'Status'), status),
    h('div', {}, h('label', { for: 'filter-engine' }, 'Engine'), engine));
}

/** The list query for filters. */
function query({ status, engine, owner }) {
  const params = new URLSearchParams({ limit: '100' });
  if (status) params.set('status', status);
  if (engine) params.set('engine', engine);
  if (owner) params.set('ownerId', owner);
  return `/stores?${params}`;
}

/** Whether a store passes the filters (live updates respect them too). */
function passes({ status, engine, owner }) {
  return (s) => (status ? s.status === status : s.status !== 'deleted') && (!engine || s.engine === engine)
    && (!owner || s.ownerId === owner);
}

/** A page listing stores with filters and live updates. `admin` adds the owner column and
 * the total; `owner` (admins) shows one user's stores; `heading` sits above the filters. */
export async function storesPage(root, { heading, admin = false, owner = '', onForbidden }) {
  const state = { status: '', engine: '', owner };
  const list = h('div');
  let table = null;
  const load = async () => {
    try {
      const reply = await api.get(query(state));
      table = storeTable(reply.stores, { withOwner: admin, filter: passes(state) });
      replace(list, admin ? h('p', { class: 'muted' }, `${reply.total} stores`) : null, table.element);
    } catch (error) {
      if (error.status === 403 && onForbidden) return onForbidden();
      replace(list, alert('error', error.message));
    }
  };
  replace(root, heading, await filters(state, (next) => {
    Object.assign(state, next);
    load();
  }), list);
  await load();
  return api.liveStores('/stores/events', (store) => {
    if (table) table.update(store);
  });
}

export function storesView(root) {
  return storesPage(root, {
    heading: h('div', { class: 'row spread' }, h('h1', {}, 'My stores'),
      h('a', { class: 'button', href: '#/stores/new' }, 'New store')),
  });
}
