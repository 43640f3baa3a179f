// client_flow.js around a game: the page's visibility reaches the game, the "you were away"
// banner, the 3-2-1 overlay, "Reconnecting to your partner..." with the grace left, and the
// excluded participant's end (no Continue). The test plays the server and fires the game's hooks.
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { createClientFlow, createDiag, secondsText } from '../../static/js/client_flow.js';
import {
  fakeConnector, fakeUi, fakeGameFactory, manualTimers, CONFIG, p2pScene, gameReady, sampleRecord, settle, answerOutcome,
} from './support/client_fakes.mjs';

function pageUi({ hidden = false } = {}) {
  const ui = fakeUi();
  ui.notices = [];
  ui.countdowns = [];
  ui.titles = [];
  ui.hiddenNow = hidden;
  ui.visibilityListeners = [];
  ui.notice = (t) => ui.notices.push(t);
  ui.countdown = (t) => ui.countdowns.push(t);
  ui.attention = (t) => ui.titles.push(t);
  ui.visibility = { hidden: () => ui.hiddenNow, onChange: (fn) => ui.visibilityListeners.push(fn) };
  ui.setHidden = (h) => {
    ui.hiddenNow = h;
    for (const fn of ui.visibilityListeners) fn(h);
  };
  return ui;
}

/** A fake game that records setHidden and answers like the session (duration from the clock). */
function hidingGames(timers) {
  const factory = fakeGameFactory();
  const wrapped = (opts) => {
    const g = factory(opts);
    g.hiddenCalls = [];
    let since = null;
    g.setHidden = (h) => {
      g.hiddenCalls.push(h);
      if (h && since === null) { since = timers.now(); return { hidden: true, duration_s: 0 }; }
      if (!h && since !== null) { const d = (timers.now() - since) / 1000; since = null; return { hidden: false, duration_s: d }; }
      return null;
    };
    return g;
  };
  wrapped.games = factory.games;
  return wrapped;
}

async function setup({ hidden = false, p2p = {} } = {}) {
  const connect = fakeConnector();
  const ui = pageUi({ hidden });
  const diag = createDiag();
  const timers = manualTimers();
  const createGame = hidingGames(timers);
  const flow = createClientFlow({
    config: CONFIG, diag, ui, connect, createGame, timers, now: timers.now,
    loadEnv: async () => ({ fake: 'env' }),
    uploadExport: async (args) => {
      args.onStatus({ phase: 'stored', attempt: 1, httpStatus: 201 });
      return { ok: true, outcome: 'stored', attempts: 1 };
    },
    navigate: () => {},
    log: { warn() {}, info() {}, error() {} },
  });
  flow.start();
  const scene = p2pScene();
  Object.assign(scene.p2p.settings.p2p, p2p);
  connect.of('/').serve('activate_scene', scene);
  const sig = connect.of('/p2p');
  sig.serve('connect');
  await settle();
  sig.serve('game_ready', gameReady({ scene }));
  const game = createGame.games[0];
  game.started = true;
  game.hooks.phase('playing');
  return { flow, ui, diag, timers, game, sig, root: connect.of('/') };
}

test('secondsText', () => {
  assert.equal(secondsText(8.4), '8 s');
  assert.equal(secondsText(90), '1 min 30 s');
  assert.equal(secondsText(120), '2 min');
});

test('the page hidden and back: the game is told, the tab title asks for attention, the warning banner shows and goes', async () => {
  const t = await setup({ p2p: { warn_hidden_s: 5, max_hidden_s: 30 } });
  t.ui.setHidden(true);
  assert.deepEqual(t.game.hiddenCalls, [true]);
  assert.equal(t.diag.hidden, true);
  assert.equal(t.ui.titles.at(-1), 'Your game is running');
  t.timers.advance(3000);
  t.ui.setHidden(false); // 3 s: under warn_hidden_s, no banner
  assert.equal(t.ui.titles.at(-1), null);
  assert.deepEqual(t.ui.notices, []);
  t.ui.setHidden(true);
  t.timers.advance(8000);
  t.ui.setHidden(false);
  const text = 'You were away from the game for 8 s. Please keep this page in front until the game is over: after 30 s away you can no longer take part.';
  assert.deepEqual(t.ui.notices, [text]);
  assert.ok(t.diag.messages.includes(text));
  t.timers.advance(10000);
  assert.deepEqual(t.ui.notices, [text, null], 'the banner goes after 10 s');
});

test('a game that starts while the page is hidden starts hidden', async () => {
  const t = await setup({ hidden: true });
  assert.deepEqual(t.game.hiddenCalls, [true]);
  assert.equal(t.diag.hidden, true);
  assert.equal(t.ui.titles.at(-1), 'Your game is starting');
});

test('3-2-1 over the canvas, then Go!', async () => {
  const t = await setup();
  for (const seconds of [3, 2, 1]) t.game.hooks.countdown({ seconds, left: seconds * 30 });
  assert.equal(t.diag.countdown, 1);
  t.game.hooks.started({ time: 'x' });
  assert.equal(t.diag.countdown, 0);
  assert.deepEqual(t.ui.countdowns, ['3', '2', '1', 'Go!']);
  t.timers.advance(600);
  assert.deepEqual(t.ui.countdowns, ['3', '2', '1', 'Go!', null]);
  assert.ok(t.diag.messages.includes('The game starts in 3...'));
  const { partner_found: found, countdown, first_frame: first } = t.diag.times;
  assert.ok(Number.isFinite(found) && found <= countdown && countdown <= first, JSON.stringify(t.diag.times));
});

test('Reconnecting to your partner... with the grace left, over any other notice, then the policy', async () => {
  const t = await setup({ p2p: { warn_hidden_s: 2 } });
  t.ui.setHidden(true);
  t.timers.advance(3000);
  t.ui.setHidden(false);
  const away = t.ui.notices.at(-1);
  t.game.hooks.connection({ peer_index: 1, event: 'interrupted', frame: 10, time: 'x' });
  assert.ok(t.diag.messages.includes('Reconnecting to your partner...'));
  t.game.hooks.reconnecting(4);
  assert.equal(t.ui.notices.at(-1), 'Reconnecting to your partner... 4 s left.');
  assert.equal(t.diag.reconnecting, 4);
  t.game.hooks.reconnecting(3);
  assert.equal(t.ui.notices.at(-1), 'Reconnecting to your partner... 3 s left.');
  t.game.hooks.reconnecting(null);
  assert.equal(t.ui.notices.at(-1), away, 'back to the notice it covered');
  assert.equal(t.diag.reconnecting, null);
  t.game.hooks.reconnecting(1);
  t.game.hooks.connection({ peer_index: 1, event: 'disconnected', frame: 20, time: 'x' });
  t.game.hooks.reconnecting(null);
  t.game.hooks.gameOver({ reason: 'disconnected', frame: 20, episode: 0 });
  t.game.hooks.ended({ record: sampleRecord(), reason: 'disconnected' });
  await settle();
  assert.equal(t.diag.phase, 'partner_left');
  assert.equal(t.ui.notices.at(-1), null);
});

test('excluded for being away too long: told why, export uploaded, seat left, the study ends excluded:hidden', async () => {
  const t = await setup({ p2p: { max_hidden_s: 20 } });
  t.ui.setHidden(true);
  t.game.hooks.excluded({ reason: 'hidden', policy: 'end', frame: 300, time: 'x' });
  assert.deepEqual(t.diag.excluded, { reason: 'hidden', policy: 'end', frame: 300, time: 'x' });
  t.game.hooks.gameOver({ reason: 'excluded', frame: 299, episode: 0 });
  t.game.hooks.ended({ record: { ...sampleRecord(), exclusion: { reason: 'hidden', frame: 300 } }, reason: 'excluded' });
  await settle();
  assert.equal(t.diag.upload.status, 'uploaded');
  assert.equal(t.ui.button, null, 'no Continue for an excluded participant');
  assert.ok(t.diag.messages.includes('You were away from the game for more than 20 s, so you can no longer take part in it.'));
  assert.equal(t.sig.emitted('leave').length, 1);
  const [report] = t.root.emitted('study_outcome');
  assert.deepEqual([report.outcome, report.reason, report.game_id], ['excluded', 'hidden', 'g1']);
  answerOutcome(t.root, { code: 'EXH1' });
  await settle();
  assert.equal(t.diag.phase, 'ended');
  assert.equal(t.diag.outcome.code, 'EXH1');
  t.ui.setHidden(false); // coming back changes nothing more
  assert.equal(t.game.hiddenCalls.length, 1);
});

test('the partner excluded: the game ends for us (policy end) or goes on (default_action)', async () => {
  const ended = await setup();
  ended.game.hooks.connection({ peer_index: 1, event: 'excluded', frame: 300, time: 'x' });
  ended.game.hooks.gameOver({ reason: 'peer_excluded', frame: 299, episode: 0 });
  ended.game.hooks.ended({ record: sampleRecord(), reason: 'peer_excluded' });
  await settle();
  assert.equal(ended.diag.phase, 'partner_left');
  assert.ok(ended.diag.messages.includes('The game ended because your partner was away from the game for too long.'));
  assert.deepEqual(ended.root.emitted('study_outcome').map((r) => [r.outcome, r.reason]), [['partner_left', 'excluded']]);

  const goesOn = await setup();
  goesOn.game.hooks.connection({ peer_index: 1, event: 'excluded', frame: 300, time: 'x' });
  assert.ok(goesOn.diag.messages.includes('Your partner was away from the game for too long. The game goes on without them.'));
  goesOn.game.hooks.gameOver({ reason: 'completed', frame: 900, episode: 1 });
  goesOn.game.hooks.ended({ record: sampleRecord(), reason: 'completed' });
  await settle();
  assert.equal(goesOn.diag.phase, 'done');
});
