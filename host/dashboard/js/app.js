// The dashboard's entry: navigation bar and hash routes (the session is `session.js`). Each view renders into
// <main> and may return a cleanup function (closing its event streams) run on navigation.

import * as api from './api.js';
import { h, replace, clearFlash } from './dom.js';
import { currentUser, loadMe, logout } from './session.js';
import { loginView, registerView } from './auth.js';
import { storesView } from './stores.js';
import { createView } from './create.js';
import { detailView } from './detail.js';
import { adminStoresView, auditView, pluginsView } from './admin.js';
import { usersView } from './users.js';
import { rolloutsView, rolloutView } from './rollouts.js';

const app = document.getElementById('app');
const nav = document.getElementById('nav');
let cleanup = null;

function renderNav() {
  const me = currentUser();
  if (!me) {
    replace(nav, h('a', { href: '#/login' }, 'Log in'), h('a', { href: '#/register' }, 'Register'));
    return;
  }
  const links = [h('a', { href: '#/stores' }, 'My stores'), h('a', { href: '#/stores/new' }, 'New store')];
  if (me.role === 'admin') {
    links.push(h('a', { href: '#/admin/stores' }, 'All stores'), h('a', { href: '#/admin/audit' }, 'Audit log'),
      h('a', { href: '#/admin/users' }, 'Users'), h('a', { href: '#/admin/plugins' }, 'Plugins'),
      h('a', { href: '#/admin/rollouts' }, 'Rollouts'));
  }
  replace(nav, ...links,
    h('span', { class: 'muted', 'data-testid': 'whoami' }, `${me.username}${me.role === 'admin' ? ' (admin)' : ''}`),
    h('button', { class: 'secondary', type: 'button', onclick: () => logout('You are logged out.') }, 'Log out'));
}

const routes = [
  [/^#\/login$/, loginView, false],
  [/^#\/register$/, registerView, false],
  [/^#\/stores\/new$/, createView, true],
  [/^#\/stores\/([0-9a-f]{12})$/, detailView, true],
  [/^#\/(stores)?$/, storesView, true],
  [/^#\/admin\/stores(?:\?owner=([0-9a-f-]{36}))?$/, adminStoresView, true],
  [/^#\/admin\/audit(?:\?actor=([0-9a-f-]{36}))?$/, auditView, true],
  [/^#\/admin\/plugins$/, pluginsView, true],
  [/^#\/admin\/users$/, usersView, true],
  [/^#\/admin\/rollouts$/, rolloutsView, true],
  [/^#\/admin\/rollouts\/(\d+)$/, rolloutView, true],
];

async function route() {
  if (cleanup) cleanup();
  cleanup = null;
  const hash = location.hash || '#/';
  if (api.token() && !currentUser()) await loadMe();
  renderNav();
  const me = currentUser();
  for (const [pattern, view, needsLogin] of routes) {
    const match = hash.match(pattern);
    if (!match) continue;
    if (needsLogin && !me) {
      location.hash = '#/login';
      return;
    }
    if (!needsLogin && me) {
      location.hash = '#/stores';
      return;
    }
    replace(app, h('p', { class: 'muted' }, 'Loading…'));
    try {
      cleanup = (await view(app, ...match.slice(1))) || null;
    } catch (error) {
      if (error instanceof api.ApiError && error.status === 401) return;
      replace(app, h('div', { class: 'alert error', role: 'alert' }, error.message));
    }
    app.focus();
    return;
  }
  replace(app, h('h1', {}, 'Not found'), h('p', {}, h('a', { href: '#/stores' }, 'Back to your stores')));
}

window.addEventListener('hashchange', () => {
  clearFlash();
  route();
});
route();
