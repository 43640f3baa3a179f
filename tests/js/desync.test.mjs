import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DesyncDetector, MAX_ANSWERS_PER_FRAME } from '../../static/js/desync.js';

const H = (n) => n.toString(16).padStart(16, '0');
const mk = (o = {}) => new DesyncDetector({ peers: [1, 2], hashInterval: 1, pendingHashLimit: 16, hashResendMs: 500, ...o });

test('matching hashes from every peer advance the verified frame in order', () => {
  const d = mk();
  for (let f = 0; f < 5; f++) d.addLocal(f, H(f), 0, 0);
  assert.equal(d.verifiedFrame(), -1);
  for (const f of [0, 1, 3]) d.addRemote(1, f, H(f), 10);
  for (const f of [0, 1, 2, 3, 4]) d.addRemote(2, f, H(f), 10);
  assert.equal(d.verifiedFrame(), 1, 'peer 1 lacks frame 2');
  d.addRemote(1, 2, H(2), 20);
  assert.equal(d.verifiedFrame(), 3);
});

test('early peer hashes are buffered (bounded) and compared when we hash the frame', () => {
  const d = mk({ pendingHashLimit: 3 });
  for (let f = 0; f < 5; f++) d.addRemote(1, f, H(f), 0);
  assert.equal(d.stats.hashesDropped, 2);
  assert.equal(d.pending.get(1), 3);
  const mm = d.addLocal(0, H(0), 0, 1);
  assert.deepEqual(mm, []);
  assert.equal(d.pending.get(1), 2);
  assert.equal(d.verifiedThrough.get(1), 0);
});

test('a mismatch is reported with both hashes; later frames still compared; verified stops before it', () => {
  const d = mk();
  const found = [];
  for (let f = 0; f < 6; f++) {
    found.push(...d.addLocal(f, H(f), 0, 0));
    found.push(...d.addRemote(1, f, f >= 3 ? H(f + 100) : H(f), 0).mismatches);
    found.push(...d.addRemote(2, f, H(f), 0).mismatches);
  }
  assert.deepEqual(found.map((m) => m.frame), [3, 4, 5]);
  assert.deepEqual(found[0], { frame: 3, episode: 0, local_hash: H(3), peer_hash: H(103), peer_index: 1 });
  assert.equal(d.stats.mismatches, 3);
  assert.equal(d.firstMismatchFrame, 3);
  assert.equal(d.verifiedFrame(), 2);
  assert.equal(d.comparedThrough.get(1), 5);
});

test('hash interval: only multiples are expected', () => {
  const d = new DesyncDetector({ peers: [1], hashInterval: 3, pendingHashLimit: 16, hashResendMs: 500 });
  for (const f of [0, 3, 6]) d.addLocal(f, H(f), 0, 0);
  for (const f of [0, 3, 6]) d.addRemote(1, f, H(f), 0);
  assert.equal(d.verifiedFrame(), 6);
});

test('a peer that left stops counting', () => {
  const d = mk();
  d.addLocal(0, H(0), 0, 0);
  d.addRemote(1, 0, H(0), 0);
  assert.equal(d.verifiedFrame(), -1);
  d.deactivate(2);
  assert.equal(d.verifiedFrame(), 0);
});

test('lost hash recovery: requests after hashResendMs, answers to late duplicates only, capped', () => {
  const d = mk();
  d.addLocal(0, H(0), 0, 0);
  d.addLocal(1, H(1), 0, 0);
  d.addRemote(1, 0, H(0), 10);
  d.addRemote(2, 0, H(0), 10);
  d.addRemote(2, 1, H(1), 10);
  assert.deepEqual(d.requestsDue(100, 50), []);
  const req = d.requestsDue(600, 50);
  assert.deepEqual(req, [{ peer: 1, frame: 1, hash: H(1) }]);
  assert.deepEqual(d.requestsDue(700, 50), [], 'not again before the interval');
  assert.equal(d.requestsDue(1100, 50).length, 1);
  assert.equal(d.requestsDue(1200, 50, 4, 100).length, 1, 'interval override (after the game)');
  // A network duplicate (soon after the first copy) is not answered...
  assert.equal(d.addRemote(2, 1, H(1), 20).answer, false);
  // ...a repeat long after it is a request: answered, at most once per half interval.
  assert.equal(d.addRemote(2, 1, H(1), 600).answer, true);
  assert.equal(d.addRemote(2, 1, H(1), 700).answer, false);
  let answers = 1;
  for (let t = 1000; t < 100000; t += 300) if (d.addRemote(2, 1, H(1), t).answer) answers += 1;
  assert.equal(answers, MAX_ANSWERS_PER_FRAME);
});

test('prune keeps what verification and answers need, drops the rest', () => {
  const d = mk();
  for (let f = 0; f < 100; f++) {
    d.addLocal(f, H(f), 0, 0);
    d.addRemote(1, f, H(f), 0);
    if (f < 50) d.addRemote(2, f, H(f), 0);
  }
  d.prune(10);
  assert.equal(Math.min(...d.local.keys()), 50, 'peer 2 still needs frames after 49');
  d.deactivate(2);
  d.prune(10);
  assert.equal(Math.min(...d.local.keys()), 90);
  assert.ok(d.remote.get(1).size <= 10);
});
