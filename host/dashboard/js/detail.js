// One store: the provisioning steps live (server-sent events), the current step and its
// elapsed time, endpoints as links, the admin credentials on demand (owner only), the failure
// reason with Retry, Delete with a confirmation, the day-two operations (version, update,
// preview, upgrade, resize, suspend, resume; `operations.js`) and the store's audit timeline.

import * as api from './api.js';
import { h, replace, badge, when, duration, alert, flash } from './dom.js';
import { currentUser } from './session.js';
import { operationsPanel } from './operations.js';

const STEPS = [
  ['plan', 'Plan'], ['namespace', 'Namespace'], ['guard', 'Quotas and network policies'],
  ['credentials', 'Credentials'], ['render', 'Render the chart'], ['apply', 'Apply'],
  ['wait', 'Wait for the workloads'], ['setup', 'Set up the store'], ['ready', 'Ready'],
];

/** When the current step began, by the server's record; null when no step is running. */
function stepStart(store) {
  return store.progress && store.progress.startedAt ? Date.parse(store.progress.startedAt) : null;
}

function stepList(store) {
  const since = stepStart(store);
  const current = store.progress && store.progress.of === 9 ? store.progress.index : 0;
  const items = STEPS.map(([key, label], i) => {
    const n = i + 1;
    let state = 'pending';
    let mark = '·';
    // Past provisioning (ready, or in a later job: upgrading, suspended, ...) every step is done.
    const provisioned = !['requested', 'provisioning', 'failed', 'deleting', 'deleted'].includes(store.status);
    if (provisioned || (current && n < current)) {
      state = 'done';
      mark = '✓';
    } else if (current === n) {
      state = store.status === 'failed' ? 'failed' : 'current';
      mark = store.status === 'failed' ? '✗' : '…';
    }
    const elapsed = state === 'current' && since ? h('span', { class: 'muted', 'data-testid': 'step-elapsed' },
      ` ${duration(api.serverNow() - since)}`) : null;
    return h('li', { class: state, 'data-step': key, 'aria-current': state === 'current' ? 'step' : undefined },
      h('span', { class: 'mark', 'aria-hidden': 'true' }, mark), h('span', {}, `${n}. ${label}`), elapsed);
  });
  return h('ol', { class: 'steps', 'aria-label': 'Provisioning steps' }, ...items);
}

/** A link for an http(s) URL; anything else (a plugin's `javascript:` URL, say) stays text. */
function safeLink(url) {
  return /^https?:\/\//i.test(url || '') ? h('a', { href: url, target: '_blank', rel: 'noopener noreferrer' }, url) : h('span', {}, url);
}

function endpoints(store) {
  const list = store.endpoints || [];
  if (!list.length) return h('p', { class: 'muted' }, store.status === 'ready' ? 'No endpoints.' : 'Available once the store is ready.');
  return h('ul', {}, ...list.map((e) => h('li', {}, `${e.label}: `, safeLink(e.url))));
}

function timeline(logs) {
  if (!logs.length) return h('p', { class: 'muted' }, 'Nothing yet.');
  return h('ol', { class: 'timeline' }, ...logs.map((e) => h('li', {},
    h('div', { class: 'when' }, when(e.createdAt), e.requestId ? ` · request ${e.requestId}` : ''),
    h('div', {}, h('strong', {}, e.action), ' — ', e.message),
    e.details && (e.details.stdout || e.details.stderr) ? h('details', {}, h('summary', {}, 'Output'),
      h('pre', {}, [e.details.stdout, e.details.stderr].filter(Boolean).join('\n'))) : null)));
}

export async function detailView(root, id) {
  let store = (await api.get(`/stores/${id}`)).store;
  const me = currentUser();
  const isOwner = !store.ownerId || store.ownerId === me.id;

  const header = h('div');
  const progress = h('div');
  const links = h('div');
  const actions = h('div', { class: 'stack' });
  const credentials = h('div', { class: 'stack' });
  const operations = h('div');
  const history = h('div');
  // The options schemas, for the options a store may change (resize).
  const engines = await api.get('/engines').then((r) => r.engines, () => []);
  let operationsShown = null;

  // Live updates re-render the page often; the actions and credentials panels are only
  // rebuilt when what they show changes, so an open confirmation, a shown error or revealed
  // credentials (and the keyboard focus in them) survive a progress event.
  let confirming = false;
  let actionError = null;
  let actionsShown = null;
  let credentialsShown = null;

  const renderActions = () => {
    const deletable = isOwner && !['deleting', 'deleted'].includes(store.status);
    if (!deletable) confirming = false;
    const shown = JSON.stringify([store.status, store.failureReason, confirming, actionError]);
    if (shown === actionsShown) return;
    actionsShown = shown;
    const notice = store.status === 'failed'
      ? alert('error', h('strong', {}, 'Provisioning failed: '), h('span', { 'data-testid': 'failure-reason' }, store.failureReason || 'unknown reason'))
      : null;
    const problem = actionError ? alert('error', actionError) : null;
    if (confirming) {
      replace(actions, notice, problem,
        alert('error', `Delete ${store.name}? Its namespace and all its data are removed. This cannot be undone.`),
        h('div', { class: 'row' },
          h('button', { type: 'button', class: 'danger', onclick: doDelete }, `Yes, delete ${store.name}`),
          h('button', { type: 'button', class: 'secondary', onclick: cancelDelete }, 'Cancel')));
      return;
    }
    const buttons = [];
    if (isOwner && store.status === 'failed') buttons.push(h('button', { type: 'button', onclick: retry }, 'Retry'));
    if (deletable) buttons.push(h('button', { type: 'button', class: 'danger', onclick: askDelete }, 'Delete store'));
    replace(actions, notice, problem, buttons.length ? h('div', { class: 'row' }, ...buttons) : null);
  };

  const askDelete = () => {
    confirming = true;
    actionError = null;
    renderActions();
    // Focus the harmless choice: a second Enter must not delete the store.
    actions.querySelector('.row button.secondary').focus();
  };

  const cancelDelete = () => {
    confirming = false;
    renderActions();
  };

  const doDelete = async () => {
    try {
      store = (await api.del(`/stores/${id}`)).store;
      confirming = false;
      flash('info', `Deleting ${store.name}…`);
      render();
    } catch (error) {
      confirming = false;
      actionError = error.message;
      renderActions();
    }
  };

  const retry = async () => {
    try {
      store = (await api.post(`/stores/${id}/retry`)).store;
      actionError = null;
      render();
    } catch (error) {
      actionError = error.message;
      renderActions();
    }
  };

  const reveal = async () => {
    try {
      const { credentials: c } = await api.get(`/stores/${id}/credentials`);
      replace(credentials, h('dl', { class: 'kv', 'data-testid': 'credentials' },
        h('dt', {}, 'Username'), h('dd', { class: 'mono' }, c.username),
        h('dt', {}, 'Password'), h('dd', { class: 'mono' }, c.password),
        c.adminUrl ? [h('dt', {}, 'Admin'), h('dd', {}, safeLink(c.adminUrl))] : null),
      h('button', { type: 'button', class: 'secondary', onclick: hideCredentials }, 'Hide'));
    } catch (error) {
      replace(credentials, alert('error', error.message));
    }
  };

  const renderCredentials = () => {
    const shown = `${isOwner} ${store.status}`;
    if (shown === credentialsShown) return;
    credentialsShown = shown;
    if (!isOwner || store.status !== 'ready') {
      replace(credentials, h('p', { class: 'muted' }, isOwner ? 'Available once the store is ready.' : 'Only the owner can see them.'));
      return;
    }
    replace(credentials, h('button', { type: 'button', class: 'secondary', onclick: reveal }, 'Reveal admin credentials'));
  };

  const hideCredentials = () => {
    credentialsShown = null;
    renderCredentials();
  };

  const loadHistory = async () => {
    try {
      replace(history, timeline((await api.get(`/stores/${id}/logs?limit=50`)).logs));
    } catch (error) {
      replace(history, alert('error', error.message));
    }
  };

  const render = () => {
    replace(header,
      h('div', { class: 'row spread' }, h('h1', {}, store.name), badge(store.status)),
      h('dl', { class: 'kv' },
        h('dt', {}, 'Engine'), h('dd', {}, `${store.engine}${store.pluginVersion ? ` ${store.pluginVersion}` : ''}`),
        h('dt', {}, 'Namespace'), h('dd', { class: 'mono' }, store.namespace),
        store.ownerEmail ? [h('dt', {}, 'Owner'), h('dd', {}, store.ownerEmail)] : null,
        h('dt', {}, 'Created'), h('dd', {}, when(store.createdAt)),
        store.provisioningDurationMs ? [h('dt', {}, 'Provisioned in'), h('dd', {}, duration(store.provisioningDurationMs))] : null));
    replace(progress, stepList(store));
    replace(links, endpoints(store));
    // Rebuilt only when what it shows changes, so an open preview survives progress events.
    const shown = JSON.stringify([store.status, store.pluginVersion, store.updateAvailable, store.pinned, store.failureReason, store.progress, store.options]);
    if (shown !== operationsShown) {
      operationsShown = shown;
      replace(operations, operationsPanel(store, {
        canOperate: isOwner || me.role === 'admin',
        isOwner,
        isAdmin: me.role === 'admin',
        engines,
        onStore: (next) => {
          store = next;
          render();
          loadHistory();
        },
      }));
    }
    renderActions();
    renderCredentials();
  };

  replace(root,
    h('p', {}, h('a', { href: '#/stores' }, '← All stores')),
    header,
    h('div', { class: 'two' },
      h('section', { class: 'card', 'aria-labelledby': 'progress-title' }, h('h2', { id: 'progress-title' }, 'Provisioning'), progress, actions),
      h('div', {},
        h('section', { class: 'card', 'aria-labelledby': 'links-title' }, h('h2', { id: 'links-title' }, 'Endpoints'), links),
        h('section', { class: 'card', 'aria-labelledby': 'creds-title' }, h('h2', { id: 'creds-title' }, 'Admin credentials'), credentials),
        h('section', { class: 'card', 'aria-labelledby': 'ops-title' }, h('h2', { id: 'ops-title' }, 'Version and operations'), operations))),
    h('section', { class: 'card', 'aria-labelledby': 'history-title' }, h('h2', { id: 'history-title' }, 'History'), history));
  render();
  await loadHistory();

  // Elapsed time of the current step ticks every second; the stream brings changes.
  const ticker = setInterval(() => {
    const el = progress.querySelector('[data-testid=step-elapsed]');
    const since = stepStart(store);
    if (el && since) el.textContent = ` ${duration(api.serverNow() - since)}`;
  }, 1000);
  const close = api.liveStores(`/stores/${id}/events`, (next) => {
    const statusChanged = next.status !== store.status;
    store = next;
    render();
    if (statusChanged || next.progress) loadHistory();
  });
  return () => {
    clearInterval(ticker);
    close();
  };
}
