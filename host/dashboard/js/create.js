// Create a store: the engine picker comes from GET /engines, the options form is generated
// from the engine's JSON Schema, the name is checked as you type, and the store limit and
// creation cooldown are explained (with the remaining wait).

import * as api from './api.js';
import { h, replace, alert, field, waitTime } from './dom.js';

const NAME = /^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/;

/** Why `name` is not a valid store name, or '' when it is. */
export function nameProblem(name) {
  if (name.length < 3) return 'At least 3 characters.';
  if (name.length > 63) return 'At most 63 characters.';
  if (!NAME.test(name)) return 'Lowercase letters, digits and dashes; start and end with a letter or digit.';
  if (name.includes('--')) return 'No two dashes in a row.';
  return '';
}

/** Inputs for the schema's properties; returns {element, read()} where read() gives the
 * options object (or throws with a message naming the field). */
function optionsForm(schema) {
  const properties = (schema && schema.properties) || {};
  const required = new Set((schema && schema.required) || []);
  const readers = [];
  const fields = Object.entries(properties).map(([key, prop]) => {
    const id = `option-${key}`;
    const label = prop.title || key;
    const help = prop.description;
    if (Array.isArray(prop.enum)) {
      const select = h('select', { id, name: key },
        ...prop.enum.map((v) => h('option', { value: String(v), selected: v === prop.default }, String(v))));
      readers.push(() => [key, prop.type === 'integer' || prop.type === 'number' ? Number(select.value) : select.value]);
      return h('div', {}, h('label', { for: id }, label), select, help ? h('p', { class: 'help' }, help) : null);
    }
    if (prop.type === 'boolean') {
      const box = h('input', { id, name: key, type: 'checkbox', checked: prop.default === true });
      readers.push(() => [key, box.checked]);
      return h('div', {}, h('label', { for: id }, box, ` ${label}`), help ? h('p', { class: 'help' }, help) : null);
    }
    const numeric = prop.type === 'integer' || prop.type === 'number';
    const f = field({
      id, label, type: numeric ? 'number' : 'text', value: prop.default ?? '', help,
      attrs: { min: prop.minimum, max: prop.maximum, maxlength: prop.maxLength, required: required.has(key) },
    });
    readers.push(() => {
      const raw = f.input.value.trim();
      if (raw === '') {
        if (required.has(key)) throw new Error(`${label} is required.`);
        return null;
      }
      if (!numeric) return [key, raw];
      const n = Number(raw);
      if (!Number.isFinite(n) || (prop.type === 'integer' && !Number.isInteger(n))) throw new Error(`${label} must be a number.`);
      return [key, n];
    });
    return f.wrap;
  });
  return {
    element: h('fieldset', { class: 'stack' }, h('legend', {}, 'Options'),
      fields.length ? fields : h('p', { class: 'muted' }, 'This engine has no options.')),
    read: () => Object.fromEntries(readers.map((r) => r()).filter(Boolean)),
  };
}

function explain(error) {
  if (error.code === 'STORE_LIMIT_EXCEEDED') {
    const limit = error.details && error.details.limit;
    const stores = limit === 1 ? 'store' : 'stores';
    return `You have reached your limit of ${limit} ${stores}. Delete a store to create another.`;
  }
  if (error.code === 'CREATION_COOLDOWN') {
    const ms = (error.details && error.details.retryAfterMs) || (error.retryAfter || 1) * 1000;
    return `You can create your next store in ${waitTime(ms)}: there is a pause between two creations.`;
  }
  if (Array.isArray(error.details) && error.details.length) return `${error.message}: ${error.details.join('; ')}`;
  return error.message;
}

export async function createView(root) {
  const { engines } = await api.get('/engines');
  if (!engines.length) {
    replace(root, h('h1', {}, 'New store'), alert('info', 'No engine is available right now. Ask an administrator.'));
    return;
  }
  const name = field({ id: 'store-name', label: 'Store name',
    help: '3–63 lowercase letters, digits and dashes. It becomes part of the store’s address.',
    attrs: { autocomplete: 'off', required: true, spellcheck: 'false' } });
  name.input.addEventListener('input', () => {
    const problem = name.input.value ? nameProblem(name.input.value) : '';
    name.error.textContent = problem;
    name.input.setAttribute('aria-invalid', problem ? 'true' : 'false');
  });
  const engine = h('select', { id: 'engine', name: 'engine' },
    ...engines.map((e) => h('option', { value: e.id }, `${e.name} (${e.version})`)));
  const description = h('p', { class: 'help', id: 'engine-help' });
  const optionsSlot = h('div');
  let options = null;
  const pick = () => {
    const chosen = engines.find((e) => e.id === engine.value);
    description.textContent = chosen.description;
    options = optionsForm(chosen.optionsSchema);
    replace(optionsSlot, options.element);
  };
  engine.addEventListener('change', pick);
  const errors = h('div', { 'aria-live': 'assertive' });
  const submit = h('button', { type: 'submit' }, 'Create store');
  const form = h('form', { class: 'card', novalidate: true },
    errors, name.wrap,
    h('label', { for: 'engine' }, 'Engine'), engine, description,
    optionsSlot,
    h('div', { class: 'row' }, submit, h('a', { href: '#/stores' }, 'Cancel')));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    replace(errors);
    const problem = nameProblem(name.input.value);
    if (problem) {
      name.error.textContent = problem;
      name.input.setAttribute('aria-invalid', 'true');
      name.input.focus();
      return;
    }
    let values;
    try {
      values = options.read();
    } catch (error) {
      replace(errors, alert('error', error.message));
      return;
    }
    submit.disabled = true;
    try {
      const reply = await api.post('/stores', { name: name.input.value, engine: engine.value, options: values });
      location.hash = `#/stores/${reply.store.id}`;
    } catch (error) {
      replace(errors, alert('error', explain(error)));
    } finally {
      submit.disabled = false;
    }
  });
  replace(root, h('h1', {}, 'New store'), form);
  pick();
  name.input.focus();
}
