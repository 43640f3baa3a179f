// validation.js: the export built from hand-made session records fits the schema that ships
// in the Python package (checked with Ajv, as the server checks it with jsonschema-rs)
// and uploadExport's retry policy against a real HTTP server on 127.0.0.1.
// The rollback engine's own records are covered once the node simulator lands (see
// docs/validation-export.md, "Tests").
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { once } from 'node:events';

import {
  buildExport, uploadExport, exportUploadUrl, backoffDelay, jsonCopy, isoTime, ExportBuildError,
  SCHEMA_NAME,
} from '../../static/js/validation.js';
import { schemaChecker, pointerToPath } from './support/export_schema.mjs';

const SCHEMA = JSON.parse(readFileSync(new URL('../../interactive_gym_p2p/validation/export.schema.json', import.meta.url), 'utf8'));
const check = schemaChecker(SCHEMA);

const IDS = {
  game_id: 'g-42', scene_id: 'arena', subject_id: 'alice', player_index: 0,
  peers: [{ player_index: 1, subject_id: 'bob' }],
};
const SETTINGS = { p2p: { fps: 60, inputDelay: 2 }, validation: { hashInterval: 1 }, impairment: null };
const hashOf = (f, salt = 0) => ((f * 2654435761 + salt) >>> 0).toString(16).padStart(16, '0');

function record({ frames = 20, lastConfirmed = frames - 1, predictions = 3, desync = null } = {}) {
  const rows = [];
  for (let f = 0; f < frames + predictions; f += 1) rows.push([f, [f % 9, (f * 7) % 9], hashOf(f)]);
  return {
    episodes: [{
      episode: 0, seed: 123456789, start_frame: 0, end_frame: lastConfirmed === frames - 1 ? frames - 1 : null,
      last_confirmed_frame: lastConfirmed, verified_frame: lastConfirmed - 2, input_delays: [0, 3], frames: rows,
    }],
    verified_frame: lastConfirmed - 2,
    desyncs: desync ? [desync] : [],
    connection_events: [{ peer_index: 1, event: 'interrupted', frame: 7, time: Date.UTC(2025, 0, 1, 12, 0, 1) },
      { peer_index: 1, event: 'resumed', frame: 9, time: '2025-01-01T12:00:02.000Z' }],
    stats: {
      rtt_ms: { p50: 18.5, p95: 40, samples: 120 }, rollbacks: 11, max_rollback_depth: 4,
      rollback_depth_histogram: new Map([[2, 3], [1, 7], [4, 1]]), mispredicted_frames: 19, stalled_frames: 2,
      frames_simulated: 40, bytes_sent: 9000, bytes_received: 8800, messages_sent: 300, messages_received: 290,
      decode_errors: 0, path: { kind: 'relay', protocol: 'udp', local_candidate_type: 'relay', remote_candidate_type: 'host' },
      hashes_compared: 20, sent_by_type: { input: 200 },
    },
    timing: { started_at: new Date(Date.UTC(2025, 0, 1, 12, 0, 0)), ended_at: Date.UTC(2025, 0, 1, 12, 0, 20), fps_target: 60, fps_achieved: 59.5 },
    // Fields a session record may carry beyond the pinned shape: never exported.
    game_over_reason: 'episodes', default_action_from: { 1: 12 },
  };
}

test('a complete game builds an export that fits the shipped schema, schema name first', () => {
  const doc = buildExport({ record: record(), ids: IDS, settings: SETTINGS });
  assert.deepEqual(check(doc), []);
  assert.deepEqual(Object.keys(doc), ['schema', 'schema_version', 'partial', 'ids', 'settings', 'episodes',
    'verified_frame', 'desyncs', 'connection_events', 'stats', 'timing']);
  assert.equal(doc.stats.hashes_compared, undefined);
  assert.deepEqual(doc.episodes[0].input_delays, [0, 3]);
  assert.deepEqual(doc.stats.key_to_screen_ms, { p50: null, p95: null, samples: 0 }, 'not measured: nulls');
  const measured = record();
  measured.stats.key_to_screen_ms = { p50: 41.5, p95: 80, samples: 12 };
  assert.deepEqual(buildExport({ record: measured, ids: IDS, settings: SETTINGS }).stats.key_to_screen_ms, { p50: 41.5, p95: 80, samples: 12 });
  assert.equal(doc.schema, SCHEMA_NAME);
  assert.equal(doc.partial, false);
  assert.equal(doc.timing.started_at, '2025-01-01T12:00:00.000Z');
  assert.equal(doc.timing.duration_s, 20);
  assert.equal(doc.connection_events[0].time, '2025-01-01T12:00:01.000Z');
  assert.deepEqual(doc.stats.rollback_depth_histogram, { 1: 7, 2: 3, 4: 1 });
  // The document is plain JSON: a round trip changes nothing.
  assert.deepEqual(JSON.parse(JSON.stringify(doc)), doc);
});

test('only confirmed frames are exported: rows past last_confirmed_frame (predictions) are dropped', () => {
  const doc = buildExport({ record: record({ frames: 20, lastConfirmed: 14, predictions: 5 }), ids: IDS, settings: SETTINGS, partial: true });
  const frames = doc.episodes[0].frames.map((r) => r[0]);
  assert.deepEqual(frames, Array.from({ length: 15 }, (_, i) => i));
  assert.equal(doc.partial, true);
  assert.equal(doc.episodes[0].end_frame, null);
  assert.deepEqual(check(doc), []);
});

test('an early leave before any confirmed frame is still a valid partial export', () => {
  const r = record();
  r.episodes[0] = { episode: 0, seed: 5, start_frame: 0, end_frame: null, last_confirmed_frame: null, verified_frame: null, input_delays: [0, null], frames: [[0, [1, 2], null]] };
  r.verified_frame = null;
  r.stats.rtt_ms = { p50: NaN, p95: NaN, samples: 0 };
  r.timing.fps_achieved = 0 / 0;
  const doc = buildExport({ record: { ...r, partial: true }, ids: IDS, settings: SETTINGS });
  assert.equal(doc.partial, true);
  assert.deepEqual(doc.episodes[0].frames, []);
  assert.equal(doc.stats.rtt_ms.p50, null);
  assert.equal(doc.timing.fps_achieved, null);
  assert.deepEqual(check(doc), []);
});

test('desync state dumps are copied as JSON with NaN/Infinity as the hashing tokens', () => {
  const state = { t: 12, pos: [1.5, NaN], v: Infinity, w: -Infinity, z: -0, nested: { a: [true, null] }, skip: undefined };
  const desync = { frame: 12, episode: 0, local_hash: hashOf(12), peer_hash: hashOf(12, 1), peer_index: 1, time: Date.UTC(2025, 0, 1), state };
  const doc = buildExport({ record: record({ desync }), ids: IDS, settings: SETTINGS });
  assert.deepEqual(doc.desyncs[0].state, { t: 12, pos: [1.5, 'NaN'], v: 'Infinity', w: '-Infinity', z: 0, nested: { a: [true, null] } });
  assert.deepEqual(check(doc), []);
  state.t = 99; // the export is a copy: later changes to the session's objects do not leak in
  assert.equal(doc.desyncs[0].state.t, 12);
});

test('records that cannot be a valid export fail with the path of the field', () => {
  const cases = [
    [(r) => { delete r.stats.rollbacks; }, '$.stats.rollbacks'],
    [(r) => { r.episodes[0].frames[3][1] = [1]; }, '$.episodes[0].frames[3][1]'],
    [(r) => { r.episodes[0].frames[2][2] = 'NOTAHASH'; }, '$.episodes[0].frames[2][2]'],
    [(r) => { r.episodes[0].frames[4][0] = 3; }, '$.episodes[0].frames[4][0]'],
    [(r) => { r.episodes[0].frames[1][1][0] = 2 ** 31; }, '$.episodes[0].frames[1][1][0]'],
    [(r) => { r.connection_events[0].event = 'vanished'; }, '$.connection_events[0].event'],
    [(r) => { r.stats.path.kind = 'carrier-pigeon'; }, '$.stats.path.kind'],
    [(r) => { r.timing.started_at = 'yesterday'; }, '$.timing.started_at'],
  ];
  for (const [mutate, path] of cases) {
    const r = record();
    mutate(r);
    assert.throws(() => buildExport({ record: r, ids: IDS, settings: SETTINGS }), (err) => err instanceof ExportBuildError && err.path === path, path);
  }
  for (const bad of ['../etc', 'a/b', '', 'x'.repeat(65), 'a..b', '.hidden']) {
    assert.throws(() => buildExport({ record: record(), ids: { ...IDS, game_id: bad }, settings: SETTINGS }), (err) => err.path === '$.ids.game_id', bad);
  }
  assert.throws(() => buildExport({ record: record(), ids: { ...IDS, peers: [{ player_index: 2, subject_id: 'bob' }] }, settings: SETTINGS }), /player indexes/);
});

test('the schema checker finds what a broken document gets wrong, with JSON paths', () => {
  const doc = buildExport({ record: record(), ids: IDS, settings: SETTINGS });
  const broken = JSON.parse(JSON.stringify(doc));
  broken.schema_version = 2;
  broken.ids.subject_id = '../../x';
  broken.episodes[0].frames[5][2] = 'abc';
  broken.stats.surprise = 1;
  delete broken.timing.ended_at;
  const paths = check(broken).map((p) => p.path);
  for (const p of ['$.schema_version', '$.ids.subject_id', '$.episodes[0].frames[5][2]', '$.stats', '$.timing']) {
    assert.ok(paths.includes(p), `${p} not in ${JSON.stringify(paths)}`);
  }
  assert.equal(check(broken, 2).length, 2, 'the limit stops the walk');
  assert.equal(pointerToPath('/a/0/b c'), '$.a[0]["b c"]');
});

test('helpers: upload URL, backoff doubling with a cap, time and JSON copy', () => {
  assert.equal(exportUploadUrl('http://127.0.0.1:5000/', 'g-1', 1), 'http://127.0.0.1:5000/p2p/exports/g-1/1');
  assert.equal(exportUploadUrl('', 'g-1', 0), '/p2p/exports/g-1/0');
  assert.throws(() => exportUploadUrl('', '../x', 0), ExportBuildError);
  const delays = [1, 2, 3, 4, 5, 6].map((n) => backoffDelay(n, { baseDelayMs: 100, maxDelayMs: 1000, random: () => 1 }));
  assert.deepEqual(delays, [100, 200, 400, 800, 1000, 1000]);
  assert.equal(backoffDelay(1, { baseDelayMs: 100, random: () => 0 }), 50);
  assert.equal(isoTime(0), '1970-01-01T00:00:00.000Z');
  assert.throws(() => jsonCopy({ f() {} }), /function is not JSON/);
  const cyclic = {}; cyclic.self = cyclic;
  assert.throws(() => jsonCopy(cyclic), /cycle/);
});

// --- uploads against a real server on 127.0.0.1

async function listen(handler, port = 0) {
  const server = createServer(handler);
  server.listen(port, '127.0.0.1');
  await once(server, 'listening');
  return { server, port: server.address().port };
}

async function readBody(req) {
  const chunks = [];
  for await (const c of req) chunks.push(c);
  return Buffer.concat(chunks).toString('utf8');
}

function reply(res, status, payload) {
  res.writeHead(status, { 'Content-Type': 'application/json' });
  res.end(JSON.stringify(payload));
}

const noWait = { sleep: async () => {}, random: () => 1, baseDelayMs: 10 };

test('upload: 5xx answers are retried with growing delays until the server stores it', async () => {
  const seen = [];
  const answers = [503, 500, 201];
  const { server, port } = await listen(async (req, res) => {
    seen.push({ method: req.method, url: req.url, auth: req.headers.authorization, body: await readBody(req) });
    const status = answers.shift();
    reply(res, status, status === 201 ? { status: 'stored', revision: 1 } : { message: 'busy' });
  });
  try {
    const doc = buildExport({ record: record(), ids: IDS, settings: SETTINGS });
    const statuses = [];
    const delays = [];
    const result = await uploadExport({
      url: exportUploadUrl(`http://127.0.0.1:${port}`, 'g-42', 0), token: 'tok-0', doc,
      onStatus: (s) => statuses.push(s.phase), ...noWait, sleep: async (ms) => { delays.push(ms); },
    });
    assert.equal(result.ok, true);
    assert.equal(result.outcome, 'stored');
    assert.equal(result.attempts, 3);
    assert.deepEqual(delays, [10, 20]);
    assert.deepEqual(statuses, ['uploading', 'retrying', 'uploading', 'retrying', 'uploading', 'stored']);
    assert.equal(seen.length, 3);
    assert.equal(seen[0].url, '/p2p/exports/g-42/0');
    assert.equal(seen[0].auth, 'Bearer tok-0');
    assert.deepEqual(JSON.parse(seen[2].body), doc);
  } finally {
    server.close();
  }
});

test('upload: 4xx is final (not retried); 200 means the server already had it', async () => {
  let hits = 0;
  const answers = [[422, { message: '$.ids: bad' }], [200, { status: 'duplicate', revision: 1 }]];
  const { server, port } = await listen(async (req, res) => {
    hits += 1;
    await readBody(req);
    reply(res, ...answers.shift());
  });
  try {
    const url = `http://127.0.0.1:${port}/p2p/exports/g-42/0`;
    const statuses = [];
    const rejected = await uploadExport({ url, token: 't', doc: '{}', onStatus: (s) => statuses.push(s), ...noWait });
    assert.equal(rejected.ok, false);
    assert.equal(rejected.outcome, 'rejected');
    assert.equal(rejected.httpStatus, 422);
    assert.equal(hits, 1);
    assert.equal(statuses.at(-1).message, '$.ids: bad');
    const duplicate = await uploadExport({ url, token: 't', doc: '{}', ...noWait });
    assert.equal(duplicate.outcome, 'duplicate');
    assert.equal(duplicate.response.revision, 1);
    assert.equal(hits, 2);
  } finally {
    server.close();
  }
});

test('upload: a server that is away (connection refused) is waited for, then gets the export', async () => {
  // Find a free port, close it: the first attempt is refused; the server comes up during
  // the first backoff (driven by the client's own 'retrying' step, not by a timer).
  const probe = await listen(() => {});
  const { port } = probe;
  probe.server.close();
  await once(probe.server, 'close');
  let server = null;
  const bodies = [];
  const statuses = [];
  const result = await uploadExport({
    url: `http://127.0.0.1:${port}/p2p/exports/g-42/1`, token: 't', doc: { hello: 1 },
    onStatus: (s) => statuses.push(s),
    random: () => 1,
    baseDelayMs: 5,
    sleep: async () => {
      if (server === null) {
        ({ server } = await listen(async (req, res) => { bodies.push(await readBody(req)); reply(res, 201, { revision: 1 }); }, port));
      }
    },
  });
  try {
    assert.equal(result.ok, true);
    assert.equal(result.attempts, 2);
    assert.match(statuses[1].reason, /^network: /);
    assert.deepEqual(bodies, ['{"hello":1}']);
  } finally {
    server?.close();
  }
});

test('upload: gives up after maxAttempts and says why', async () => {
  let hits = 0;
  const { server, port } = await listen(async (req, res) => { hits += 1; await readBody(req); reply(res, 502, { message: 'bad gateway' }); });
  try {
    const statuses = [];
    const result = await uploadExport({
      url: `http://127.0.0.1:${port}/x`, token: 't', doc: {}, maxAttempts: 3, onStatus: (s) => statuses.push(s), ...noWait,
    });
    assert.equal(result.ok, false);
    assert.equal(result.outcome, 'gave_up');
    assert.equal(result.httpStatus, 502);
    assert.equal(hits, 3);
    assert.equal(statuses.at(-1).phase, 'failed');
    assert.match(statuses.at(-1).reason, /HTTP 502 \(bad gateway\)/);
  } finally {
    server.close();
  }
});

test('upload: a server that accepts the connection but never answers times out and is retried', async () => {
  let hits = 0;
  const { server, port } = await listen(async (req, res) => {
    hits += 1;
    await readBody(req);
    if (hits === 1) return; // hang: never answer the first attempt
    reply(res, 201, { revision: 3 });
  });
  try {
    const result = await uploadExport({ url: `http://127.0.0.1:${port}/x`, token: 't', doc: {}, timeoutMs: 200, ...noWait });
    assert.equal(result.ok, true);
    assert.equal(result.attempts, 2);
    assert.equal(result.response.revision, 3);
  } finally {
    server.closeAllConnections();
    server.close();
  }
});
