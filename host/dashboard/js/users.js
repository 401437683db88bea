// Admin users page: every account with its role, number of stores and state. Deactivating a
// user stops their logins and the tokens they already hold (their stores keep running);
// reactivating lets them back in. Admins cannot deactivate themselves.

import * as api from './api.js';
import { h, replace, when, alert } from './dom.js';
import { currentUser } from './session.js';
import { adminOnly } from './admin.js';

const PAGE = 500;

function stateBadge(user) {
  const state = user.active ? 'active' : 'deactivated';
  return h('span', { class: `badge ${user.active ? 'ready' : 'failed'}`, 'data-state': state }, state);
}

export async function usersView(root) {
  const me = currentUser();
  const message = h('div', { 'aria-live': 'polite' });
  const list = h('div');

  const setActive = async (user, active) => {
    replace(message);
    try {
      await api.post(`/admin/users/${user.id}/${active ? 'activate' : 'deactivate'}`);
      replace(message, alert('ok', `${user.email} ${active ? 'can log in again' : 'is deactivated: logged out and unable to log in'}.`));
    } catch (error) {
      replace(message, alert('error', error.message));
    }
    await load();
  };

  const action = (user) => {
    if (user.id === me.id) return h('span', { class: 'muted' }, 'you');
    return user.active
      ? h('button', { type: 'button', class: 'danger', 'aria-label': `Deactivate ${user.email}`, onclick: () => setActive(user, false) }, 'Deactivate')
      : h('button', { type: 'button', class: 'secondary', 'aria-label': `Reactivate ${user.email}`, onclick: () => setActive(user, true) }, 'Reactivate');
  };

  const load = async () => {
    let reply;
    try {
      reply = await api.get(`/admin/users?limit=${PAGE}`);
    } catch (error) {
      if (error.status === 403) return adminOnly(root);
      replace(list, alert('error', error.message));
      return;
    }
    const rows = reply.users.map((u) => h('tr', { 'data-user-id': u.id },
      h('td', { 'data-label': 'E-mail' }, u.email),
      h('td', { 'data-label': 'Username' }, u.username, ' ',
        h('a', { href: `#/admin/audit?actor=${u.id}`, class: 'muted', 'aria-label': `Activity of ${u.email}` }, '(activity)')),
      h('td', { 'data-label': 'Role' }, u.role),
      h('td', { 'data-label': 'Stores' }, u.activeStores
        ? h('a', { href: `#/admin/stores?owner=${u.id}`, 'aria-label': `Stores of ${u.email}` }, String(u.activeStores))
        : '0'),
      h('td', { 'data-label': 'State' }, stateBadge(u)),
      h('td', { 'data-label': 'Since' }, when(u.createdAt)),
      h('td', { 'data-label': '' }, action(u))));
    replace(list,
      h('p', { class: 'muted' }, reply.total > reply.users.length ? `The first ${reply.users.length} of ${reply.total} users` : `${reply.total} users`),
      h('table', { class: 'responsive' },
        h('thead', {}, h('tr', {}, h('th', {}, 'E-mail'), h('th', {}, 'Username'), h('th', {}, 'Role'), h('th', {}, 'Stores'),
          h('th', {}, 'State'), h('th', {}, 'Since'), h('th', {}, h('span', { class: 'visually-hidden' }, 'Action')))),
        h('tbody', {}, ...rows)));
  };

  replace(root, h('h1', {}, 'Users'), message, list);
  await load();
}
