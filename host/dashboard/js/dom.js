// DOM helpers. Every piece of text goes in as a text node (never as HTML), so data from the
// API (store names, audit messages, plugin reports) cannot inject markup.

/** Creates an element: h('a', {href: '#/'}, 'text', child, ...). Attributes starting with
 * `on` become listeners; `class`, `for` and boolean attributes work as in HTML. */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith('on') && typeof value === 'function') {
      el.addEventListener(key.slice(2).toLowerCase(), value);
    } else if (value === true) {
      el.setAttribute(key, '');
    } else {
      el.setAttribute(key, String(value));
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** Replaces the content of `el` with `children`. */
export function replace(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

/** A status badge. */
export function badge(status) {
  return h('span', { class: `badge ${status}`, 'data-status': status }, status);
}

/** `2026-11-28 21:03:04` in the viewer's time zone. */
export function when(iso) {
  if (!iso) return '';
  const d = new Date(iso);
  const pad = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

/** `3 s`, `2 min 5 s`. */
export function duration(ms) {
  const s = Math.max(0, Math.round(ms / 1000));
  return s < 60 ? `${s} s` : `${Math.floor(s / 60)} min ${s % 60} s`;
}

/** How long someone has to wait, rounded up to what a reader cares about: `40 s`, `10 min`,
 * `2 h 5 min`. */
export function waitTime(ms) {
  const s = Math.max(1, Math.ceil(ms / 1000));
  if (s < 60) return `${s} s`;
  const min = Math.ceil(s / 60);
  return min < 60 ? `${min} min` : `${Math.floor(min / 60)} h${min % 60 ? ` ${min % 60} min` : ''}`;
}

/** An alert box: kind is error | info | ok. */
export function alert(kind, ...children) {
  return h('div', { class: `alert ${kind}`, role: kind === 'error' ? 'alert' : 'status' }, ...children);
}

/** Shows a message above the page until the next navigation. */
export function flash(kind, text) {
  replace(document.getElementById('flash'), alert(kind, text));
}

export function clearFlash() {
  replace(document.getElementById('flash'));
}

/** A labelled input with an error slot; returns {wrap, input, error}. */
export function field({ id, label, type = 'text', value = '', help, attrs = {} }) {
  const error = h('p', { class: 'field-error', id: `${id}-error`, 'aria-live': 'polite' });
  const input = h('input', { id, name: id, type, value, 'aria-describedby': `${id}-error${help ? ` ${id}-help` : ''}`, ...attrs });
  const wrap = h('div', {},
    h('label', { for: id }, label),
    input,
    help ? h('p', { class: 'help', id: `${id}-help` }, help) : null,
    error);
  return { wrap, input, error };
}
