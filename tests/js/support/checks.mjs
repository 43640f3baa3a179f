// Assertions shared by the engine's network-simulation tests.
import assert from 'node:assert/strict';
import { confirmedRows } from './sim.mjs';

/** Every peer finished normally with the same confirmed actions and hashes, no desync, and no
 * rollback deeper than the prediction window. Returns the records. */
export function assertAgreement(g, { window = 8, label = '' } = {}) {
  const records = g.sessions.map((s) => s.record());
  const rows = g.sessions.map(confirmedRows);
  records.forEach((r, i) => {
    assert.equal(r.game_over_reason, 'completed', `${label} peer ${i} ended with ${r.game_over_reason}`);
    assert.equal(r.partial, false);
    assert.deepEqual(r.desyncs, [], `${label} peer ${i} reported a false desync`);
    assert.equal(r.stats.hash_mismatches, 0);
    assert.ok(r.stats.max_rollback_depth <= window, `${label} peer ${i} rolled back ${r.stats.max_rollback_depth} > ${window}`);
    assert.equal(r.stats.decode_errors, 0);
    assert.deepEqual(r.episode_end_mismatches, []);
  });
  for (let i = 1; i < rows.length; i++) {
    assert.deepEqual(records[i].episodes.map((e) => e.input_delays), records[0].episodes.map((e) => e.input_delays), `${label} peer ${i} recorded other input delays`);
    assert.equal(rows[i].length, rows[0].length, `${label} peer ${i} confirmed ${rows[i].length} frames, peer 0 ${rows[0].length}`);
    const diff = rows[i].findIndex((r, k) => r !== rows[0][k]);
    assert.equal(diff, -1, `${label} peer ${i} differs at row ${diff}: ${rows[i][diff]} vs ${rows[0][diff]}`);
  }
  // Every confirmed frame has a hash (hashInterval 1) and was verified with every peer.
  const last = records[0].episodes.at(-1).end_frame;
  for (const r of records) {
    assert.equal(r.verified_frame, last, `${label} verified ${r.verified_frame}, last frame ${last}`);
    for (const ep of r.episodes) for (const row of ep.frames) assert.match(row[2], /^[0-9a-f]{16}$/);
  }
  // Episodes tile the game: contiguous, game-global frames.
  let next = 0;
  for (const ep of records[0].episodes) {
    assert.equal(ep.start_frame, next);
    assert.equal(ep.frames[0][0], ep.start_frame);
    assert.equal(ep.frames.at(-1)[0], ep.end_frame);
    next = ep.end_frame + 1;
  }
  return records;
}
