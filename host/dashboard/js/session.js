// The session: the token (kept by api.js), the user behind it, and its expiry. Views read
// the user from here; app.js loads it before each route.

import * as api from './api.js';
import { flash } from './dom.js';

let me = null;
let expiry = null;

export function currentUser() {
  return me;
}

/** Ends the session and shows the login page with `message`. */
export function logout(message) {
  api.setToken(null);
  me = null;
  clearTimeout(expiry);
  location.hash = '#/login';
  if (message) flash('info', message);
}

api.whenUnauthorized(() => logout('Your session has expired. Please log in again.'));

/** Starts a session with `token` (after login or registration). */
export async function startSession(token) {
  api.setToken(token);
  await loadMe();
  location.hash = '#/stores';
}

/** Loads the user behind the stored token (none when it is missing or expired). */
export async function loadMe() {
  if (!api.token()) {
    me = null;
    return;
  }
  const seconds = api.tokenSecondsLeft();
  if (seconds <= 0) {
    logout('Your session has expired. Please log in again.');
    return;
  }
  clearTimeout(expiry);
  expiry = setTimeout(() => logout('Your session has expired. Please log in again.'), seconds * 1000);
  try {
    me = (await api.get('/auth/me')).user;
  } catch {
    me = null;
  }
}
