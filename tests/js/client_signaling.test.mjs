// client_signaling.js: `signal`s and `relay`s for a game this page does not know yet are kept
// and handed to that game's signaling once its game_ready arrives (several server processes:
// a partner can reach its seat before this page's re-delivered game_ready, docs/cluster.md),
// and messages that come before the transport sets onmessage wait for it.
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { createEarlySignals, createSocketSignaling } from '../../static/js/client_signaling.js';
import { createTransport } from '../../static/js/transport.js';
import { FakeNetwork, until } from './support/fake_webrtc.mjs';
import { FakeSocket } from './support/client_fakes.mjs';

const restart = (gameId, from = 1) => ({ game_id: gameId, from, kind: 'restart', data: null });
const candidate = (gameId, text, from = 1) => ({ game_id: gameId, from, kind: 'candidate', data: { candidate: text, sdpMid: '0' } });

test('signals and relays for a game not known yet reach its signaling when it is created, first and in order', () => {
  const sock = new FakeSocket('/p2p');
  const early = createEarlySignals(sock);
  sock.serve('signal', candidate('g1', 'a'));
  sock.serve('relay', { game_id: 'g1', from: 1, data: new Uint8Array([7]) });
  sock.serve('signal', candidate('g1', 'b'));
  sock.serve('signal', candidate('other', 'x'));
  assert.equal(early.size, 4);

  const sig = createSocketSignaling(sock, 'g1', () => {}, early);
  assert.equal(early.size, 1, 'only the other game is still kept');
  sock.serve('signal', candidate('g1', 'c')); // live, before the transport set onmessage: waits too
  assert.equal(early.size, 1, 'nothing more is kept for a game that has its signaling');
  const got = [];
  sig.onmessage = (from, msg) => got.push([from, msg.candidate.candidate]);
  assert.deepEqual(got, [[1, 'a'], [1, 'b'], [1, 'c']]);
  sock.serve('signal', candidate('g1', 'd'));
  assert.deepEqual(got.at(-1), [1, 'd']);

  const relayed = [];
  sig.onrelay = (from, bytes) => relayed.push([from, [...bytes]]);
  assert.deepEqual(relayed, [[1, [7]]]);
  sig.close();
  early.close();
  sock.serve('signal', candidate('g2', 'late'));
  assert.equal(early.size, 0, 'closed: nothing kept');
});

test('kept messages are bounded: a few dozen, a short time, never for a game taken or ended', () => {
  let now = 0;
  const sock = new FakeSocket('/p2p');
  const early = createEarlySignals(sock, { limit: 3, keepMs: 1000, now: () => now });
  for (const text of ['1', '2', '3', '4']) sock.serve('signal', candidate('g1', text));
  assert.equal(early.size, 3, 'the oldest gives way');
  now = 600;
  sock.serve('signal', candidate('g1', '5'));
  now = 1500; // '2'..'4' came at 0: too old now; '5' came at 600
  const sig = createSocketSignaling(sock, 'g1', () => {}, early);
  const got = [];
  sig.onmessage = (from, msg) => got.push(msg.candidate.candidate);
  assert.deepEqual(got, ['5']);
  sig.close();

  // A game this page saw end (game_ended, or requeued before its game_ready came): dropped,
  // and nothing more kept for it.
  sock.serve('signal', restart('g2'));
  sock.serve('signal', restart('g3'));
  sock.serve('signal', restart('g4'));
  sock.serve('game_ended', { game_id: 'g2', reason: 'researcher' });
  sock.serve('requeued', { game_id: 'g3', requeued: true });
  sock.serve('signal', restart('g2'));
  sock.serve('relay', { game_id: 'g3', from: 1, data: new Uint8Array([1]) });
  assert.equal(early.size, 1, 'only g4');
  assert.deepEqual(early.take('g4').map(([event, p]) => [event, p.game_id]), [['signal', 'g4']]);
  assert.deepEqual(early.take('g2'), []);
  // A taken game (the signaling of a game that ran) keeps nothing after it: a stale signal
  // from that game's partner does not take room.
  sock.serve('signal', restart('g1'));
  sock.serve('signal', { kind: 'restart', from: 1 }); // no game id
  assert.equal(early.size, 0);
});

test('without a handler, a game signaling object keeps at most `limit` messages of each kind', () => {
  const sock = new FakeSocket('/p2p');
  const errors = [];
  const sig = createSocketSignaling(sock, 'g1', (e) => errors.push(e.code), null, 2);
  for (const text of ['a', 'b', 'c']) sock.serve('signal', candidate('g1', text));
  sock.serve('signal', { game_id: 'g1', from: 1, kind: 'offer', data: null }); // malformed: reported, not kept
  assert.deepEqual(errors, ['malformed_signal']);
  const got = [];
  sig.onmessage = (from, msg) => got.push(msg.candidate.candidate);
  assert.deepEqual(got, ['b', 'c']);
  sig.onmessage = null; // the transport closed: later ones wait again (bounded), nothing is thrown
  sock.serve('signal', candidate('g1', 'd'));
  assert.deepEqual(got, ['b', 'c']);
});

/** Two pages' /p2p sockets and a server that relays `signal`s between the seats of one game. */
function signalingServer() {
  const sockets = [new FakeSocket('/p2p'), new FakeSocket('/p2p')];
  sockets.forEach((sock, from) => {
    sock.emit = (ev, payload, ack) => {
      FakeSocket.prototype.emit.call(sock, ev, payload, ack);
      if (ev !== 'signal') return;
      ack?.({ ok: true });
      const { game_id, to, kind, data } = payload;
      setImmediate(() => sockets[to].serve('signal', { game_id, from, kind, data: JSON.parse(JSON.stringify(data)) }));
    };
  });
  return sockets;
}

test('a partner whose offer beats this page\'s game_ready still connects (the offer was kept)', async () => {
  const net = new FakeNetwork();
  const sockets = signalingServer();
  const early = sockets.map((sock) => createEarlySignals(sock));
  const events = [];
  const transport = (player) => {
    const t = createTransport({
      selfIndex: player, numPlayers: 2, RTCPeerConnection: net.RTCPeerConnection,
      signaling: createSocketSignaling(sockets[player], 'g1', (e) => events.push({ at: player, type: 'sig_error', ...e }), early[player]),
    });
    for (const type of ['open', 'error']) t.on(type, (d) => events.push({ at: player, type, ...d }));
    t.start();
    return t;
  };
  // Player 0 (the offerer) took its seat through another process: it offers at once.
  const t0 = transport(0);
  await until(() => early[1].size >= 2, 'the offer and a candidate reach player 1 before its game_ready');
  // Player 1's re-delivered game_ready: its game starts now.
  const t1 = transport(1);
  await until(() => events.filter((e) => e.type === 'open').length === 2, 'both channels open', 3000);
  assert.deepEqual(events.filter((e) => e.type !== 'open'), []);
  t0.close();
  t1.close();
});
