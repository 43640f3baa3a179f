// The input log (key events with their timing) against the shared vector that the Python twin
// (interactive_gym_p2p/peer/input_log.py) also runs, and inside a session: assigned frames
// follow the input delay, the screen frame is the one drawn before the key, and under an
// impaired link some keys land on predicted frames that a rollback later corrected.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { InputLog } from '../../static/js/input_log.js';
import { createGame } from './support/sim.mjs';
import { createCounterEnv } from './support/envs.mjs';
import { assertAgreement } from './support/checks.mjs';

const VECTOR = JSON.parse(readFileSync(new URL('../vectors/input_log.json', import.meta.url), 'utf8'));

test('shared vector: rows and dropped count', () => {
  const log = new InputLog({ limit: VECTOR.limit });
  for (const [op, ...a] of VECTOR.calls) {
    if (op === 'key') log.key(...a);
    else if (op === 'start') log.start(a[0]);
    else if (op === 'assign') log.assign(a[0]);
    else if (op === 'displayed') log.displayed(...a);
    else if (op === 'confirm') log.confirmThrough(a[0], (f) => a[1][f] ?? 0);
    else throw new Error(op);
  }
  assert.deepEqual(log.rows(), VECTOR.rows);
  assert.equal(log.dropped, VECTOR.dropped);
});

test('in a game: frames follow the input delay, predicted screens, corrections under impairment', () => {
  const inputDelay = 2;
  const g = createGame({
    numPlayers: 2, seed: 21, settings: { maxEpisodes: 1, inputDelay },
    link: { delayMs: 90, jitterMs: 40, loss: 0.1 },
    makeEnv: () => createCounterEnv({ numPlayers: 2, minSteps: 400, maxSteps: 500 }),
  });
  g.runToEnd(600000);
  for (const r of assertAgreement(g)) {
    const rows = r.inputs;
    assert.ok(rows.length > 40, `${rows.length} key events`);
    let exact = 0;
    const last = r.episodes.at(-1).end_frame;
    for (const [key, down, epochMs, tMs, frame, screen, predicted, corrected, shownMs] of rows) {
      assert.match(key, /^a[1-4]$/);
      assert.equal(typeof down, 'boolean');
      assert.ok(Number.isInteger(epochMs) && epochMs > 1.7e12);
      if (screen === null) continue; // before the first frame was drawn
      if (frame === null) {
        // No local input was taken after it: the game was over.
        assert.ok(screen >= last - inputDelay - 1, `unassigned key on frame ${screen}`);
        continue;
      }
      // The simulator notes keys just before a tick and draws right after it: the input goes to
      // the frame inputDelay after the next one simulated, one more than the frame on screen
      // (more when the last tick could not advance and an older frame was still on screen).
      assert.ok(frame >= screen + 1 + inputDelay, `key at ${tMs} ms: frame ${frame}, screen ${screen}`);
      if (frame === screen + 1 + inputDelay) exact += 1;
      assert.ok(shownMs === null || shownMs >= tMs, 'shown after it happened');
      if (!predicted) assert.equal(corrected, false);
    }
    assert.ok(exact > rows.length * 0.8, `${exact} of ${rows.length} exactly inputDelay + 1 ahead`);
    const onPredicted = rows.filter((x) => x[6] === true);
    assert.ok(onPredicted.length > 10, 'some keys were made while a predicted frame was on screen');
    assert.ok(rows.some((x) => x[7] === true), 'and some of those frames were corrected by a rollback');
    assert.ok(rows.some((x) => x[6] === true && x[7] === false), 'and some were predicted right');
  }
});
