// A JS P2PSession driven over stdin/stdout by a Python test (JSON lines; bytes as hex), so a
// Python simulator can seat it next to Python sessions on ONE virtual clock: Python owns the
// clock and the network; every command carries the virtual time `t` the session's now() reads,
// and every reply returns what the session sent during that command, in order.
//
// Commands (one JSON object per line; one reply line each):
//   {op:'create', player, numPlayers, sharedSeed, settings (camelCase), env: {kind:'counter'|'trivial', ...}, path, epochMs}
//   {op:'start', t} | {op:'tick', t, action} | {op:'receive', t, peer, hex} | {op:'close', t}
//       -> {sent: [[peer, hex], ...], state, result?, events: [[name, payload], ...]}
//   {op:'record'} -> {record}
//   {op:'build_export', record, ids, settings, nowMs} -> {doc} | {error}   (validation.js buildExport)
//   {op:'exit'}
import { createInterface } from 'node:readline';
import { P2PSession } from '../../../static/js/session.js';
import { buildExport } from '../../../static/js/validation.js';
import { createCounterEnv, createTrivialEnv } from './envs.mjs';

const EVENTS = ['started', 'episode_start', 'episode_end', 'episode_mismatch', 'desync', 'connection',
  'disconnect_agreement', 'default_action', 'game_over', 'closed', 'error'];

let session = null;
let t = 0;
let outbox = [];
let events = [];

function toHex(bytes) {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
}

function handle(cmd) {
  if (typeof cmd.t === 'number') t = cmd.t;
  switch (cmd.op) {
    case 'create': {
      const o = { numPlayers: cmd.numPlayers, ...(cmd.env || {}) };
      const env = o.kind === 'trivial' ? createTrivialEnv(o) : createCounterEnv(o);
      const epoch = cmd.epochMs ?? 0;
      session = new P2PSession({
        env,
        transport: { send: (peer, bytes) => outbox.push([peer, toHex(bytes)]) },
        localPlayer: cmd.player,
        numPlayers: cmd.numPlayers,
        sharedSeed: cmd.sharedSeed,
        settings: cmd.settings || {},
        now: () => t,
        wallClock: () => epoch + t,
        path: cmd.path ?? null,
      });
      for (const name of EVENTS) session.on(name, (payload) => events.push([name, payload]));
      return {};
    }
    case 'start': session.start(); break;
    case 'tick': return flush({ result: session.tick(cmd.action) });
    case 'receive': session.receive(cmd.peer, new Uint8Array(Buffer.from(cmd.hex, 'hex'))); break;
    case 'close': session.close(); break;
    case 'note_key': session.noteKey(cmd.key, cmd.down); break;
    case 'note_displayed': session.noteDisplayed(cmd.frame); break;
    case 'record': return { record: session.record() };
    case 'build_export':
      try {
        return { doc: buildExport({ record: cmd.record, ids: cmd.ids, settings: cmd.settings, now: new Date(cmd.nowMs) }) };
      } catch (err) {
        return { error: String(err && err.message) };
      }
    default: return { error: `unknown op ${cmd.op}` };
  }
  return flush({});
}

function flush(reply) {
  reply.sent = outbox;
  reply.state = session.state;
  reply.events = events;
  outbox = [];
  events = [];
  return reply;
}

const rl = createInterface({ input: process.stdin, crlfDelay: Infinity });
for await (const line of rl) {
  if (!line.trim()) continue;
  const cmd = JSON.parse(line);
  if (cmd.op === 'exit') break;
  let reply;
  try {
    reply = handle(cmd);
  } catch (err) {
    reply = { error: `${err && err.name}: ${err && err.message}`, stack: String(err && err.stack) };
  }
  process.stdout.write(JSON.stringify(reply) + '\n');
}
rl.close();
