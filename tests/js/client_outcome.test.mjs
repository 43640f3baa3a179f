// client_outcome.js: report an outcome, show the server's page once, redirect after the delay.
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { createOutcomes, CLIENT_OUTCOMES } from '../../static/js/client_outcome.js';
import { manualTimers, outcomePage } from './support/client_fakes.mjs';

function setup() {
  const emitted = [];
  const shown = [];
  const navigations = [];
  const diag = {};
  const timers = manualTimers();
  const onShown = [];
  const outcomes = createOutcomes({
    emit: (event, payload, ack) => emitted.push({ event, payload, ack }),
    ui: { outcome: (v) => shown.push(v) },
    diag, timers, navigate: (url) => navigations.push(url),
    subjectId: () => 'alice', onShown: (page) => onShown.push(page),
  });
  return { outcomes, emitted, shown, navigations, diag, timers, onShown };
}

test('a page reports only the outcomes the server lets it', () => {
  assert.deepEqual([...CLIENT_OUTCOMES], ['partner_left', 'connection_failed', 'excluded', 'error']);
});

test('report: one study_outcome, the server\'s page shown with its code, then the redirect', async () => {
  const t = setup();
  const first = t.outcomes.report('excluded', { reason: 'inactive', detail: 'x'.repeat(2000), gameId: 'g1' });
  const second = t.outcomes.report('error', { reason: 'internal' });
  assert.equal(t.emitted.length, 1, 'the first report is the one sent');
  const { payload, ack } = t.emitted[0];
  assert.deepEqual({ ...payload, detail: payload.detail.length }, { outcome: 'excluded', reason: 'inactive', detail: 1000, game_id: 'g1' });
  assert.equal(t.outcomes.reporting, true);
  const page = outcomePage('excluded', { reason: 'inactive', code: 'EX1', redirectUrl: 'https://r.example/?cc=EX1', delay: 3 });
  ack({ ok: true, recorded: true, page });
  assert.equal(await first, page);
  assert.equal(await second, page);
  assert.equal(t.shown.length, 1);
  assert.deepEqual({ ...t.shown[0], onRedirect: typeof t.shown[0].onRedirect }, {
    keepScene: false, title: 'T:excluded', message: 'M:excluded', detail: null, next: 'N', code: 'EX1',
    redirectUrl: 'https://r.example/?cc=EX1', subjectId: 'alice', onRedirect: 'function' });
  assert.deepEqual(t.diag.outcome, { outcome: 'excluded', reason: 'inactive', code: 'EX1', redirect_url: 'https://r.example/?cc=EX1', recorded_at: page.recorded_at });
  assert.deepEqual(t.onShown, [page]);
  t.timers.advance(2999);
  assert.deepEqual(t.navigations, []);
  t.timers.advance(1);
  assert.deepEqual(t.navigations, ['https://r.example/?cc=EX1']);
  // After the outcome a later report is not even sent.
  assert.equal(await t.outcomes.report('partner_left'), page);
  assert.equal(t.emitted.length, 1);
});

test('the same page pushed again (study_end after the ack, a reload) is shown once', () => {
  const t = setup();
  const page = outcomePage('lobby_timeout', { code: 'LT' });
  t.outcomes.show(page);
  t.outcomes.show({ ...page });
  assert.equal(t.shown.length, 1);
  t.outcomes.show(page, { keepScene: true });
  assert.equal(t.shown.length, 1);
  assert.equal(t.timers.pending, 0, 'no redirect without a URL');
});

test('a refused report shows a page without a code, and the server\'s real page replaces it', () => {
  const t = setup();
  t.outcomes.report('error', { reason: 'env_load' });
  t.emitted[0].ack({ ok: false, error: { code: 'rate_limited', message: 'too many' } });
  assert.equal(t.shown.at(-1).code, null);
  assert.match(t.shown.at(-1).message, /too many/);
  const real = outcomePage('error', { reason: 'env_load', code: 'ERR' });
  t.outcomes.show(real);
  assert.equal(t.shown.at(-1).code, 'ERR');
});
