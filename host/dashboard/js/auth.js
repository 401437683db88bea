// Login and registration, with errors shown next to the form: validation problems, wrong
// credentials, and rate limits with the time to wait.

import * as api from './api.js';
import { h, replace, alert, field, waitTime } from './dom.js';
import { startSession } from './session.js';

function explain(error) {
  if (error.status === 429 || error.code === 'AUTH_BUSY') {
    const what = {
      LOGIN_RATE_LIMITED: 'Too many login attempts.',
      ACCOUNT_LOGIN_LOCKED: 'Too many failed logins for this account. You can still log in from a device you used before.',
      REGISTRATION_RATE_LIMITED: 'Too many registrations from this address.',
      AUTH_BUSY: 'The server is busy.',
    }[error.code] || 'Too many requests.';
    const wait = error.retryAfter ? `Try again in ${waitTime(error.retryAfter * 1000)}.` : 'Try again later.';
    return `${what} ${wait}`;
  }
  if (Array.isArray(error.details) && error.details.length) return `${error.message}: ${error.details.join('; ')}`;
  return error.message;
}

function form(title, fields, submitLabel, onSubmit, footer) {
  const errors = h('div', { 'aria-live': 'assertive' });
  const button = h('button', { type: 'submit' }, submitLabel);
  const el = h('form', { class: 'card narrow', novalidate: true, 'aria-labelledby': 'form-title' },
    h('h1', { id: 'form-title' }, title), errors, ...fields.map((f) => f.wrap),
    h('div', { class: 'row' }, button), footer);
  el.addEventListener('submit', async (event) => {
    event.preventDefault();
    replace(errors);
    button.disabled = true;
    try {
      await onSubmit();
    } catch (error) {
      replace(errors, alert('error', explain(error)));
    } finally {
      button.disabled = false;
    }
  });
  return el;
}

export function loginView(root) {
  const email = field({ id: 'email', label: 'E-mail', type: 'email', attrs: { autocomplete: 'username', required: true } });
  const password = field({ id: 'password', label: 'Password', type: 'password', attrs: { autocomplete: 'current-password', required: true } });
  replace(root, form('Log in', [email, password], 'Log in', async () => {
    const reply = await api.post('/auth/login', { email: email.input.value.trim(), password: password.input.value });
    await startSession(reply.token);
  }, h('p', { class: 'muted' }, 'No account yet? ', h('a', { href: '#/register' }, 'Register'))));
  email.input.focus();
}

export function registerView(root) {
  const email = field({ id: 'email', label: 'E-mail', type: 'email', attrs: { autocomplete: 'email', required: true } });
  const username = field({ id: 'username', label: 'Username', help: '3–128 letters, digits, dashes or underscores.',
    attrs: { autocomplete: 'username', required: true } });
  const password = field({ id: 'password', label: 'Password', type: 'password', help: 'At least 8 characters.',
    attrs: { autocomplete: 'new-password', required: true } });
  replace(root, form('Create an account', [email, username, password], 'Register', async () => {
    const reply = await api.post('/auth/register', {
      email: email.input.value.trim(), username: username.input.value.trim(), password: password.input.value,
    });
    await startSession(reply.token);
  }, h('p', { class: 'muted' }, 'Already registered? ', h('a', { href: '#/login' }, 'Log in'))));
  email.input.focus();
}
