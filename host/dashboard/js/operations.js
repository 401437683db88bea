// A store's day-two operations on its detail page: the engine version it runs and the update
// available, a preview of what an upgrade or resize changes before it is started, Upgrade,
// Resize (the options the engine marks changeable), Suspend and Resume, and the progress of
// the job that runs them.

import * as api from './api.js';
import { h, replace, alert } from './dom.js';

const LABELS = {
  preview: 'Plan and preview', 'resize-quota': 'Size the quota', 'add-credentials': 'New credentials',
  'apply-new': 'Apply the new version', 'wait-new': 'Wait for the workloads', migrate: 'Upgrade steps',
  prune: 'Remove what is no longer used', switch: 'Switch', 'rollback-quota': 'Roll back: quota',
  'rollback-apply': 'Roll back: objects', 'rollback-wait': 'Roll back: wait', 'rollback-finish': 'Roll back: finish',
  'scale-down': 'Stop the workloads', 'release-quota': 'Release compute', 'restore-quota': 'Restore the quota',
  'scale-up': 'Start the workloads', 'wait-ready': 'Wait for the workloads',
};

const names = (list) => (list || []).map((o) => `${(o.object || o).kind} ${(o.object || o).name}`);

/** The preview as a short list a person can check before starting. */
function previewView(preview) {
  const o = preview.objects;
  const row = (label, items, testid) => items.length
    ? h('li', { 'data-testid': testid }, h('strong', {}, `${label}: `), items.join(', ')) : null;
  const changed = (o.changed || []).map((c) => `${c.object.kind} ${c.object.name}${c.recreated ? ' (recreated, data kept)' : ''}`);
  return h('div', { class: 'stack', 'data-testid': 'upgrade-preview' },
    h('p', {}, `From ${preview.fromVersion} to ${preview.toVersion}`),
    preview.refused.length ? alert('error', h('strong', {}, 'Kubernetes cannot make this change: '), preview.refused.join('; ')) : null,
    o.added.length + o.changed.length + o.removed.length ? null : h('p', { class: 'muted' }, 'No Kubernetes object changes.'),
    h('ul', {},
      row('Added', names(o.added), 'preview-added'),
      row('Changed', changed, 'preview-changed'),
      row('Removed', names(o.removed), 'preview-removed'),
      row('Kept (hold data)', names(o.kept), 'preview-kept'),
      row('Options', preview.options.map((c) => `${c.path.slice(1)}: ${JSON.stringify(c.from)} → ${JSON.stringify(c.to)}`), 'preview-options'),
      row('Upgrade steps', preview.upgradeSteps, 'preview-upgrade-steps'),
      row('New setup steps', preview.setupSteps, 'preview-setup-steps'),
      preview.values.length ? h('li', {}, h('details', {}, h('summary', {}, `${preview.values.length} value(s) change`),
        h('pre', {}, preview.values.map((v) => `${v.path}: ${JSON.stringify(v.from)} → ${JSON.stringify(v.to)}`).join('\n')))) : null));
}

/** Options of `schema` a store may change after creation. */
function changeable(schema) {
  return Object.entries((schema && schema.properties) || {}).filter(([, p]) => p['x-storeplane-changeable']);
}

/**
 * The operations card of `store` for `canOperate` callers (its owner, admins). `onStore` is
 * called with the store an operation returns.
 */
export function operationsPanel(store, { canOperate, isOwner, isAdmin, engines, onStore }) {
  const root = h('div', { class: 'stack', 'data-testid': 'operations' });
  const result = h('div');
  const run = async (path, body) => {
    try {
      const reply = await api.post(`/stores/${store.id}/${path}`, body);
      if (reply.store) onStore(reply.store);
      return reply;
    } catch (error) {
      const details = Array.isArray(error.details) ? `: ${error.details.join('; ')}` : '';
      replace(result, alert('error', `${error.message}${details}`));
      return null;
    }
  };
  const preview = async (body) => {
    const reply = await run('upgrade/preview', body);
    if (!reply) return;
    replace(result, previewView(reply.preview),
      reply.preview.refused.length ? null : h('button', { type: 'button', onclick: () => run('upgrade', body) },
        body.options ? 'Resize now' : `Upgrade to ${reply.preview.toVersion}`));
  };

  const facts = [h('dt', {}, 'Version'), h('dd', { 'data-testid': 'plugin-version' }, store.pluginVersion || '—')];
  if (store.updateAvailable) facts.push(h('dt', {}, 'Update'), h('dd', { 'data-testid': 'update-available' }, `${store.updateAvailable} available`));
  if (store.pinned) facts.push(h('dt', {}, 'Pinned'), h('dd', { 'data-testid': 'pinned' }, 'stays on this version (rollouts pass it by)'));
  const parts = [h('dl', { class: 'kv' }, ...facts)];
  if (store.status === 'ready' && store.failureReason) {
    parts.push(alert('error', h('strong', {}, 'Last change failed: '), h('span', { 'data-testid': 'last-change-failure' }, store.failureReason)));
  }
  if (store.progress && ['upgrading', 'suspending', 'resuming'].includes(store.status)) {
    const p = store.progress;
    parts.push(h('p', { 'data-testid': 'operation-step' }, `Step ${p.index} of ${p.of}: ${LABELS[p.step] || p.step}`));
  }
  if (canOperate && store.status === 'ready') {
    const buttons = [];
    if (store.updateAvailable || isAdmin) {
      buttons.push(h('button', { type: 'button', class: 'secondary', onclick: () => preview({}) },
        store.updateAvailable ? 'Preview the update' : 'Preview an upgrade to the active version'));
    }
    buttons.push(h('button', { type: 'button', class: 'secondary', onclick: () => run('suspend', {}) }, 'Suspend'));
    if (isOwner) {
      buttons.push(h('button', { type: 'button', class: 'secondary', onclick: () => run('pin', { pinned: !store.pinned }) },
        store.pinned ? 'Follow updates again' : 'Stay on this version'));
    }
    parts.push(h('div', { class: 'row' }, ...buttons));
    const engine = (engines || []).find((e) => e.id === store.engine);
    for (const [key, property] of changeable(engine && engine.optionsSchema)) {
      if (!Array.isArray(property.enum)) continue;
      const current = (store.options && store.options[key]) || property.default;
      const select = h('select', { id: `change-${key}`, 'data-testid': `change-${key}` },
        ...property.enum.map((v) => h('option', { value: v, selected: v === current ? '' : undefined }, v)));
      parts.push(h('div', { class: 'row' },
        h('label', { for: `change-${key}` }, property.title || key), select,
        h('button', { type: 'button', class: 'secondary', onclick: () => {
          if (select.value !== current) preview({ version: store.pluginVersion, options: { [key]: select.value } });
        } }, `Preview the ${(property.title || key).toLowerCase()} change`)));
    }
  }
  if (canOperate && store.status === 'suspended') {
    parts.push(h('p', { class: 'muted' }, 'Suspended: no workload runs; its data is kept.'),
      h('div', { class: 'row' }, h('button', { type: 'button', onclick: () => run('resume', {}) }, 'Resume')));
  }
  replace(root, ...parts, result);
  return root;
}
