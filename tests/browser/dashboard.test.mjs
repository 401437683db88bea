// Browser tests of the storeplane dashboard in headless Chromium, against a real
// `storeplane serve` provisioning on the fake Kubernetes API server. Started by the Rust
// integration test `browser::dashboard_in_chromium`, which passes:
//   STOREPLANE_URL   the server's base URL
//   CHROMIUM         the Chromium executable (/usr/bin/chromium)
//   SCREENSHOT_DIR   where screenshots go (CI keeps them as artifacts)
//   PLUGIN_WASM      a valid plugin upload (woocommerce 0.2.0)
//   FAKE_URL         the fake cluster, whose /_fake/settings makes pods fail
//   GUARDED_URL      a second server with guardrails on: one store per user, a 10-minute
//                    creation cooldown, two login attempts per 15 minutes
//   NOTICE           the first server's DASHBOARD_NOTICE (the second has none)
// The tests run in order and share the server: the first registered user is the admin.
// Every page fails its test on a console error or an uncaught exception.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { chromium } from 'playwright-core';

const base = process.env.STOREPLANE_URL;
const shots = process.env.SCREENSHOT_DIR || join(tmpdir(), 'storeplane-screenshots');
const DESKTOP = { width: 1280, height: 900 };
const PHONE = { width: 375, height: 740 };
let browser;
const shared = {};

before(async () => {
  assert.ok(base, 'STOREPLANE_URL must be set');
  mkdirSync(shots, { recursive: true });
  browser = await chromium.launch({ executablePath: process.env.CHROMIUM || '/usr/bin/chromium', args: ['--no-sandbox'] });
});

after(async () => {
  await browser?.close();
});

/** A fresh browser context and page that records console errors. */
async function open(viewport = DESKTOP) {
  const context = await browser.newContext({ viewport });
  const page = await context.newPage();
  page.setDefaultTimeout(20_000);
  const errors = [];
  page.on('console', (message) => {
    if (message.type() === 'error') errors.push(message.text());
  });
  page.on('pageerror', (error) => errors.push(error.message));
  return { context, page, errors };
}

async function shot(page, name) {
  await page.screenshot({ path: join(shots, `${name}.png`), fullPage: true });
}

function noConsoleErrors(errors) {
  assert.deepEqual(errors, [], `console errors: ${errors.join('\n')}`);
}

async function register(page, name, server = base) {
  await page.goto(`${server}/#/register`);
  await page.getByLabel('E-mail').fill(`${name}@example.com`);
  await page.getByLabel('Username').fill(name);
  await page.getByLabel('Password').fill(`password-${name}`);
  await page.getByRole('button', { name: 'Register' }).click();
  await page.getByRole('heading', { name: 'My stores' }).waitFor();
  assert.match(await page.getByTestId('whoami').innerText(), new RegExp(name));
}

test('the first user registers and is the admin; a bad login is explained', async () => {
  const { context, page, errors } = await open();
  await page.goto(`${base}/`);
  await page.getByRole('heading', { name: 'Log in' }).waitFor();
  // The operator's notice is on the login page already, as text (the markup in it is not).
  assert.equal(await page.getByRole('note').innerText(), process.env.NOTICE);
  await page.getByLabel('E-mail').fill('nobody@example.com');
  await page.getByLabel('Password').fill('wrong-password');
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.getByRole('alert').filter({ hasText: /invalid|incorrect|credentials/i }).waitFor();
  await shot(page, '01-login-error');
  // A failed login answers 401: the browser logs it as a failed resource load, which is the
  // expected outcome here, not a dashboard error.
  errors.length = 0;
  await register(page, 'admin');
  assert.match(await page.getByTestId('whoami').innerText(), /admin \(admin\)/);
  shared.admin = context;
  noConsoleErrors(errors);
});

test('a tenant creates a WooCommerce store, watches it become ready, reveals the credentials', async () => {
  const { context, page, errors } = await open();
  await register(page, 'alice');
  await page.getByRole('link', { name: 'New store' }).first().click();
  await page.getByRole('heading', { name: 'New store' }).waitFor();
  const name = page.locator('#store-name');
  await name.fill('Bad--Name');
  await page.locator('#store-name-error', { hasText: 'Lowercase letters, digits and dashes' }).waitFor();
  await shot(page, '02-create-invalid-name');
  await name.fill('alice-shop');
  assert.equal(await page.locator('#store-name-error').innerText(), '');
  await page.getByLabel('Engine').selectOption('woocommerce');
  await page.getByRole('button', { name: 'Create store' }).click();
  await page.getByRole('heading', { name: 'alice-shop' }).waitFor();
  shared.storeUrl = page.url();
  // Live progress: some step is current while provisioning, then the badge turns ready.
  await page.locator('.steps li.current, .steps li.done').first().waitFor();
  // The running step shows how long it has run (readiness takes 1.5 s in the fake cluster).
  const elapsed = page.locator('.steps li.current [data-testid=step-elapsed]');
  await elapsed.waitFor();
  assert.match(await elapsed.innerText(), /^\s*\d+ s$/);
  await shot(page, '03-provisioning');
  await page.locator('.badge[data-status=ready]').waitFor({ timeout: 60_000 });
  assert.equal(await page.locator('.steps li.done').count(), 9, 'every step is done');
  const storefront = page.getByRole('link', { name: /store-[0-9a-f]{12}\.localhost/ }).first();
  await storefront.waitFor();
  await shot(page, '04-ready');
  await page.getByRole('button', { name: 'Reveal admin credentials' }).click();
  const credentials = page.getByTestId('credentials');
  await credentials.waitFor();
  const text = await credentials.innerText();
  assert.match(text, /Username\s+\S+/);
  assert.match(text, /Password\s+\S{16,}/);
  await shot(page, '05-credentials');
  shared.alice = context;
  noConsoleErrors(errors);
});

test('another tenant, on a phone, cannot see the store', async () => {
  const { context, page, errors } = await open(PHONE);
  await register(page, 'bob');
  await page.getByText('No stores here yet.').waitFor();
  assert.equal(await page.getByText('alice-shop').count(), 0);
  await shot(page, '06-bob-phone-list');
  await page.goto(shared.storeUrl);
  await page.getByRole('alert').filter({ hasText: /access/i }).waitFor();
  await shot(page, '07-bob-forbidden');
  // The refused request (403) is logged by the browser as a failed load: expected.
  assert.ok(errors.every((e) => /403/.test(e)), errors.join('\n'));
  await page.close();
  shared.bob = context;
});

async function fakeSettings(settings) {
  const response = await fetch(`${process.env.FAKE_URL}/_fake/settings`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(settings),
  });
  assert.equal(response.status, 200);
}

test('a failed store shows its reason, and Retry finishes it once the cause is fixed', async () => {
  await fakeSettings({ pod_failures: [{ matches: 'postgres', reason: 'CrashLoopBackOff' }] });
  const page = await shared.alice.newPage();
  const errors = [];
  page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(`${base}/#/stores/new`);
  await page.locator('#store-name').fill('alice-medusa');
  await page.getByLabel('Engine').selectOption('medusa');
  await page.getByRole('button', { name: 'Create store' }).click();
  await page.locator('.badge[data-status=failed]').waitFor({ timeout: 60_000 });
  assert.match(await page.getByTestId('failure-reason').innerText(), /CrashLoopBackOff/);
  assert.equal(await page.locator('.steps li.failed').count(), 1, 'the failed step is marked');
  await shot(page, '15-failed');
  await fakeSettings({ pod_failures: [] });
  await page.getByRole('button', { name: 'Retry' }).click();
  await page.locator('.badge[data-status=ready]').waitFor({ timeout: 60_000 });
  await shot(page, '16-retried-ready');
  await page.getByRole('button', { name: 'Delete store' }).click();
  await page.getByRole('button', { name: 'Yes, delete alice-medusa' }).click();
  await page.locator('.badge[data-status=deleted]').waitFor({ timeout: 60_000 });
  noConsoleErrors(errors);
});

test('the owner deletes the store after confirming, and it is gone', async () => {
  const page = await shared.alice.newPage();
  const errors = [];
  page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(shared.storeUrl);
  await page.getByRole('button', { name: 'Delete store' }).click();
  await page.getByText('This cannot be undone').waitFor();
  await shot(page, '08-delete-confirm');
  await page.getByRole('button', { name: 'Yes, delete alice-shop' }).click();
  await page.locator('.badge[data-status=deleted]').waitFor({ timeout: 60_000 });
  await shot(page, '09-deleted');
  await page.getByRole('link', { name: '← All stores' }).click();
  await page.getByText('No stores here yet.').waitFor();
  assert.equal(await page.locator('[data-store-id]').count(), 0);
  noConsoleErrors(errors);
});

test('the admin uploads a plugin version, activates it, rolls back; a bad upload shows the report', async () => {
  const page = await shared.admin.newPage();
  const errors = [];
  page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(`${base}/#/admin/plugins`);
  const woo = page.locator('section[data-engine=woocommerce]');
  await woo.waitFor();
  await page.getByLabel('Component (.wasm)').setInputFiles(process.env.PLUGIN_WASM);
  await page.getByRole('button', { name: 'Upload' }).click();
  await page.getByText(/Uploaded woocommerce 0\.2\.0/).waitFor();
  await woo.getByRole('button', { name: 'Activate 0.2.0' }).click();
  await page.getByText('Activated woocommerce 0.2.0.').waitFor();
  await woo.locator('tr[data-version="0.2.0"] .badge').waitFor();
  await shot(page, '10-plugin-activated');
  await woo.getByRole('button', { name: 'Roll back' }).click();
  await page.getByText('Rolled back woocommerce.').waitFor();
  await woo.locator('tr[data-version="0.1.0"] .badge').waitFor();
  assert.equal(await woo.locator('tr[data-version="0.2.0"] .badge').count(), 0);
  await shot(page, '11-plugin-rolled-back');

  const junk = join(tmpdir(), 'not-a-plugin.wasm');
  writeFileSync(junk, Buffer.from('this is not a WebAssembly component'));
  await page.getByLabel('Component (.wasm)').setInputFiles(junk);
  await page.getByRole('button', { name: 'Upload' }).click();
  await page.getByRole('alert').filter({ hasText: /component|wasm|WebAssembly/i }).waitFor();
  await shot(page, '12-plugin-rejected');
  // The refused upload (400/422) is logged by the browser as a failed load: expected.
  assert.ok(errors.every((e) => /40\d|422/.test(e)), errors.join('\n'));
});

test('the admin sees every store with its owner and the platform audit log', async () => {
  const page = await shared.admin.newPage();
  const errors = [];
  page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(`${base}/#/admin/stores`);
  await page.getByRole('heading', { name: 'All stores' }).waitFor();
  await page.getByLabel('Status').selectOption('deleted');
  const row = page.locator('[data-store-id]').filter({ hasText: 'alice-shop' });
  await row.waitFor();
  assert.equal(await page.getByRole('columnheader', { name: 'Owner' }).count(), 1);
  assert.match(await row.innerText(), /alice@example\.com/, 'the owner is named by e-mail');
  await shot(page, '13-admin-stores');
  await row.getByRole('link', { name: 'alice-shop' }).click();
  await page.getByRole('heading', { name: 'alice-shop' }).waitFor();
  await page.getByText('alice@example.com').waitFor();
  await page.getByRole('link', { name: 'Audit log' }).click();
  await page.getByLabel('Action').fill('store.deleted');
  await page.getByRole('button', { name: 'Filter' }).click();
  await page.getByText(/alice-shop deleted/).waitFor();
  await shot(page, '14-admin-audit');

  // Users: bob is deactivated, which ends his session at once, and then let back in.
  await page.getByRole('link', { name: 'Users' }).click();
  await page.getByRole('heading', { name: 'Users' }).waitFor();
  const aliceRow = page.locator('[data-user-id]').filter({ hasText: 'alice@example.com' });
  assert.match(await aliceRow.innerText(), /tenant/);
  assert.match(await page.locator('[data-user-id]').filter({ hasText: 'admin@example.com' }).innerText(), /you/);
  await page.getByRole('button', { name: 'Deactivate bob@example.com' }).click();
  await page.getByRole('status').filter({ hasText: 'bob@example.com is deactivated' }).waitFor();
  const bobRow = page.locator('[data-user-id]').filter({ hasText: 'bob@example.com' });
  await bobRow.locator('[data-state=deactivated]').waitFor();
  await shot(page, '20-admin-users');
  const bobPage = await shared.bob.newPage();
  await bobPage.goto(`${base}/#/stores`);
  await bobPage.getByRole('heading', { name: 'Log in' }).waitFor();
  await bobPage.close();
  await page.getByRole('button', { name: 'Reactivate bob@example.com' }).click();
  await bobRow.locator('[data-state=active]').waitFor();
  await page.getByRole('link', { name: 'Activity of alice@example.com' }).click();
  await page.getByRole('heading', { name: 'Audit log of one user' }).waitFor();
  await page.getByText(/deletion of alice-shop requested/).waitFor();
  assert.equal(await page.getByText(/bob/).count(), 0, 'only alice\'s events');
  await page.getByRole('button', { name: 'Log out' }).click();
  await page.getByRole('heading', { name: 'Log in' }).waitFor();
  await page.goto(`${base}/#/admin/plugins`);
  await page.getByRole('heading', { name: 'Log in' }).waitFor();
  noConsoleErrors(errors);
});

test('guardrails are explained: login rate limit, store limit and creation cooldown, with the wait', async () => {
  const guarded = process.env.GUARDED_URL;
  assert.ok(guarded, 'GUARDED_URL must be set');
  const { page, errors } = await open(PHONE);
  await page.goto(`${guarded}/`);
  await page.getByRole('heading', { name: 'Log in' }).waitFor();
  assert.equal(await page.getByRole('note').count(), 0, 'a server without DASHBOARD_NOTICE shows none');
  await page.getByLabel('E-mail').fill('mallory@example.com');
  await page.getByLabel('Password').fill('guessing-wrong');
  const attempt = async () => {
    const answered = page.waitForResponse((r) => r.url().endsWith('/api/v1/auth/login'));
    await page.getByRole('button', { name: 'Log in' }).click();
    return (await answered).status();
  };
  assert.deepEqual([await attempt(), await attempt(), await attempt()], [401, 401, 429]);
  await page.getByRole('alert').filter({ hasText: 'Too many login attempts. Try again in 15 min.' }).waitFor();
  await shot(page, '17-login-rate-limited');

  await register(page, 'gina', guarded);
  const create = async (name) => {
    await page.goto(`${guarded}/#/stores/new`);
    await page.getByRole('heading', { name: 'New store' }).waitFor();
    await page.locator('#store-name').fill(name);
    await page.getByLabel('Engine').selectOption('woocommerce');
    await page.getByRole('button', { name: 'Create store' }).click();
  };
  await create('gina-one');
  await page.getByRole('heading', { name: 'gina-one' }).waitFor();
  const firstStore = page.url();

  await create('gina-two');
  await page.getByRole('alert').filter({ hasText: 'You have reached your limit of 1 store. Delete a store to create another.' }).waitFor();
  await shot(page, '18-store-limit');

  // gina is this server's first user, so its admin: her store count links to her stores.
  await page.goto(`${guarded}/#/admin/users`);
  await page.getByRole('link', { name: 'Stores of gina@example.com' }).click();
  await page.getByRole('heading', { name: 'Stores of one user' }).waitFor();
  await page.locator('[data-store-id]').filter({ hasText: 'gina-one' }).waitFor();
  assert.match(await page.locator('[data-store-id]').innerText(), /gina@example\.com/);

  // Asked while the store is still provisioning: the confirmation stays open through the
  // live updates that bring it to ready.
  await page.goto(firstStore);
  await page.locator('.badge[data-status=provisioning], .badge[data-status=requested]').waitFor();
  await page.getByRole('button', { name: 'Delete store' }).click();
  await page.locator('.badge[data-status=ready]').waitFor({ timeout: 60_000 });
  const confirm = page.getByRole('button', { name: 'Yes, delete gina-one' });
  assert.ok(await confirm.isVisible(), 'the confirmation survived the live updates');
  await confirm.click();
  await page.locator('.badge[data-status=deleted]').waitFor({ timeout: 60_000 });
  await create('gina-two');
  // The cooldown is ten minutes and began a few seconds ago: the wait is rounded up.
  await page.getByRole('alert').filter({ hasText: 'You can create your next store in 10 min' }).waitFor();
  assert.equal(await page.locator('#store-name').inputValue(), 'gina-two', 'the form keeps what was typed');
  await shot(page, '19-creation-cooldown');
  // Refusals (401, 429) are logged by the browser as failed loads: expected here.
  assert.ok(errors.every((e) => /401|429/.test(e)), errors.join('\n'));
});

test('day two: the admin previews and applies an update, resizes, suspends and resumes a store, and follows a rollout', async () => {
  const page = await shared.admin.newPage();
  const errors = [];
  page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
  page.on('pageerror', (e) => errors.push(e.message));
  // The admin logged out in an earlier test: back in.
  await page.goto(`${base}/#/login`);
  await page.getByLabel('E-mail').fill('admin@example.com');
  await page.getByLabel('Password').fill('password-admin');
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.getByRole('heading', { name: 'My stores' }).waitFor();
  // A store on 0.1.0, then 0.2.0 (uploaded earlier) activated: an update is available.
  await page.goto(`${base}/#/stores/new`);
  await page.locator('#store-name').fill('day-two');
  await page.getByLabel('Engine').selectOption('woocommerce');
  await page.getByRole('button', { name: 'Create store' }).click();
  await page.locator('.badge[data-status=ready]').waitFor({ timeout: 60_000 });
  const storeUrl = page.url();
  await page.goto(`${base}/#/admin/plugins`);
  const woo = page.locator('section[data-engine=woocommerce]');
  await woo.getByRole('button', { name: 'Activate 0.2.0' }).click();
  await page.getByText('Activated woocommerce 0.2.0.').waitFor();

  await page.goto(storeUrl);
  const operations = page.getByTestId('operations');
  await operations.getByTestId('update-available').filter({ hasText: '0.2.0 available' }).waitFor();
  assert.equal(await operations.getByTestId('plugin-version').innerText(), '0.1.0');
  await operations.getByRole('button', { name: 'Preview the update' }).click();
  const preview = operations.getByTestId('upgrade-preview');
  await preview.waitFor();
  assert.match(await preview.innerText(), /From 0\.1\.0 to 0\.2\.0/);
  assert.match(await operations.getByTestId('preview-upgrade-steps').innerText(), /update-wordpress-database/);
  await shot(page, '30-upgrade-preview');
  await operations.getByRole('button', { name: 'Upgrade to 0.2.0' }).click();
  await operations.getByTestId('plugin-version').filter({ hasText: '0.2.0' }).waitFor({ timeout: 60_000 });
  await page.locator('.badge[data-status=ready]').waitFor({ timeout: 60_000 });
  assert.equal(await operations.getByTestId('update-available').count(), 0);
  await shot(page, '31-upgraded');

  // Resize: the preview names what changes (the quota-sized workloads), then it is applied.
  await operations.getByTestId('change-size').selectOption('medium');
  await operations.getByRole('button', { name: 'Preview the size change' }).click();
  await operations.getByTestId('preview-options').filter({ hasText: 'size: "small" → "medium"' }).waitFor();
  assert.match(await operations.getByTestId('preview-changed').innerText(), /Deployment/);
  await operations.getByRole('button', { name: 'Resize now' }).click();
  await page.locator('.badge[data-status=upgrading], .badge[data-status=ready]').first().waitFor();
  await page.locator('.badge[data-status=ready]').waitFor({ timeout: 60_000 });
  await operations.getByTestId('change-size').waitFor();
  assert.equal(await operations.getByTestId('change-size').inputValue(), 'medium');

  await operations.getByRole('button', { name: 'Stay on this version' }).click();
  await operations.getByTestId('pinned').waitFor();
  await operations.getByRole('button', { name: 'Follow updates again' }).click();
  await operations.getByRole('button', { name: 'Stay on this version' }).waitFor();
  await operations.getByRole('button', { name: 'Suspend' }).click();
  await page.locator('.badge[data-status=suspended]').waitFor({ timeout: 60_000 });
  await shot(page, '32-suspended');
  await operations.getByRole('button', { name: 'Resume' }).click();
  await page.locator('.badge[data-status=ready]').waitFor({ timeout: 60_000 });

  // A rollout back to 0.1.0 of every WooCommerce store on another version, followed live.
  await page.goto(`${base}/#/admin/rollouts`);
  await page.getByRole('heading', { name: 'Rollouts', level: 1 }).waitFor();
  await page.getByLabel('Engine').selectOption('woocommerce');
  await page.getByLabel('Version').selectOption('0.1.0');
  await page.getByLabel('Canary stores').fill('1');
  await page.getByRole('button', { name: 'Start the rollout' }).click();
  await page.getByRole('heading', { name: /Rollout #\d+: woocommerce 0\.1\.0/ }).waitFor();
  await page.getByTestId('rollout-state').locator('.badge[data-status=completed]').waitFor({ timeout: 90_000 });
  assert.match(await page.getByTestId('rollout-counts').innerText(), /upgraded/);
  assert.ok(await page.locator('tr[data-state=upgraded]').count() >= 1);
  await shot(page, '33-rollout-completed');
  noConsoleErrors(errors);
});
