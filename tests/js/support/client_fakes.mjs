// Fakes for the participant-flow tests: a Socket.IO-like socket the test plays the server
// on, a recording UI, a scriptable game, manual timers, and the scene payloads the server
// sends (shape of docs/server.md, "activate_scene payload").

export class FakeSocket {
  constructor(namespace, opts) {
    this.namespace = namespace;
    this.opts = opts;
    this.handlers = new Map();
    this.sent = []; // [event, payload]
    this.acks = []; // [event, payload, ack]
    this.disconnected = false;
  }
  on(ev, fn) {
    if (!this.handlers.has(ev)) this.handlers.set(ev, new Set());
    this.handlers.get(ev).add(fn);
    return this;
  }
  off(ev, fn) {
    this.handlers.get(ev)?.delete(fn);
    return this;
  }
  emit(ev, payload, ack) {
    this.sent.push([ev, payload]);
    if (typeof ack === 'function') this.acks.push([ev, payload, ack]);
    return this;
  }
  disconnect() {
    this.disconnected = true;
  }
  /** The server sends an event to this socket. */
  serve(ev, payload) {
    for (const fn of Array.from(this.handlers.get(ev) ?? [])) fn(payload);
  }
  /** Payloads this socket sent for one event name. */
  emitted(ev) {
    return this.sent.filter(([e]) => e === ev).map(([, p]) => p);
  }
}

export function fakeConnector() {
  const sockets = [];
  const connect = (namespace, opts) => {
    const s = new FakeSocket(namespace, opts);
    sockets.push(s);
    return s;
  };
  connect.sockets = sockets;
  connect.of = (ns) => sockets.filter((s) => s.namespace === ns).at(-1);
  return connect;
}

export function fakeUi() {
  const ui = {
    phases: [],
    statuses: [],
    errors: [],
    waitroomTexts: [],
    scenes: [],
    button: null,
    gameVisible: false,
    hudLines: null,
    keyboardTarget: { fake: 'window' },
    setPhase(p) { ui.phases.push(p); },
    showScene(s) { ui.scenes.push(s); },
    waitroom(t) { ui.waitroomTexts.push(t); },
    status(t) { ui.statuses.push(t); },
    error(t) { ui.errors.push(t); },
    advance(opts) { ui.button = opts; },
    game(v) { ui.gameVisible = v; },
    createCanvas() { return null; },
    hud(lines) { ui.hudLines = lines; },
    outcomes: [],
    outcome(v) { ui.outcomes.push(v); if (v) ui.button = null; },
    collect(ids) { return Object.fromEntries(ids.map((id) => [id, `value-of-${id}`])); },
  };
  return ui;
}

/** A createGame stand-in: records its options; the test fires the hooks. */
export function fakeGameFactory() {
  const games = [];
  const factory = (opts) => {
    const g = {
      opts,
      hooks: opts.hooks,
      beganWith: null,
      abandoned: 0,
      started: false,
      ended: false,
      abandonRecord: null,
      leftForReload: 0,
      peerCalls: [], // [method, player] from the server's peer_* events
      begin(env) { g.beganWith = env; },
      abandon() { g.abandoned += 1; g.ended = true; return g.abandonRecord; },
      leaveForReload() { g.leftForReload += 1; g.ended = true; return g.abandonRecord; },
      peerInterrupted(p) { g.peerCalls.push(['peerInterrupted', p]); },
      peerRejoined(p) { g.peerCalls.push(['peerRejoined', p]); },
      peerLeft(p) { g.peerCalls.push(['peerLeft', p]); },
    };
    games.push(g);
    return g;
  };
  factory.games = games;
  return factory;
}

export function manualTimers() {
  let now = 0;
  let seq = 0;
  const queue = [];
  return {
    now: () => now,
    setTimeout(fn, ms) {
      const h = { at: now + ms, fn, seq: seq++ };
      queue.push(h);
      return h;
    },
    clearTimeout(h) {
      const i = queue.indexOf(h);
      if (i >= 0) queue.splice(i, 1);
    },
    advance(ms) {
      const end = now + ms;
      for (;;) {
        queue.sort((a, b) => a.at - b.at || a.seq - b.seq);
        if (!queue.length || queue[0].at > end) break;
        const h = queue.shift();
        now = h.at;
        h.fn();
      }
      now = end;
    },
    get pending() { return queue.length; },
  };
}

export const CONFIG = {
  subject_id: 'alice', experiment_id: 'exp', participant_namespace: '/', signaling_namespace: '/p2p',
  socketio_path: '/socket.io', static_url: '/p2p/static/', python_url: '/p2p/py/', pyodide_index_url: '/p2p/pyodide/',
};

export function p2pScene({ sceneId = 'game', numEpisodes = 2, maxSteps = 30, fps = 30, impairment = null, policy = 'end' } = {}) {
  const settings = {
    p2p: {
      players: 2, fps, input_delay: 2, prediction_window: 8, input_redundancy: 5, disconnect_policy: policy,
      disconnect_notify_ms: 750, disconnect_timeout_ms: 5000, connection_timeout_s: 20, reconnect_grace_s: 10,
      wait_timeout_s: 120, ice_transport_policy: 'all', turn: 'server', agent_ids: null, default_action: 0,
      num_episodes: numEpisodes, protocol_version: 1,
    },
    validation: { hash_interval: 1, state_dump_on_desync: true, export: true },
    impairment,
  };
  return {
    scene_id: sceneId,
    scene_type: 'P2PGymScene',
    scene_header: 'The game',
    scene_body: '<p>play</p>',
    p2p: {
      protocol_version: 1,
      settings,
      env: { runtime: 'pyodide', code: 'env = None', packages: [], on_game_step_code: '', restart_pyodide: false, verified: true },
      gameplay: {
        action_mapping: { ArrowUp: 1, ArrowDown: 2 }, default_action: 0, num_episodes: numEpisodes, max_steps: maxSteps,
        input_mode: 'pressed_keys', game_has_composite_actions: false, reset_freeze_s: 0,
      },
      rendering: { fps, game_width: 600, game_height: 400, background: '#FFFFFF', location_representation: 'relative' },
      ui: { scene_header: 'The game', scene_body: '<p>play</p>', in_game_scene_body: null, waitroom_timeout_redirect_url: null },
      signaling: { namespace: '/p2p', subject_id: 'alice', ticket: 'TICKET-1' },
    },
  };
}

export function gameReady({ playerIndex = 0, rejoin = false, upload = { url: '/p2p/exports/g1/0', token: 'TOKEN' }, scene } = {}) {
  return {
    game_id: 'g1', scene_id: 'game', seed: 12345, player_index: playerIndex, num_players: 2,
    players: [
      { player_index: 1, subject_id: playerIndex === 1 ? 'alice' : 'bob', agent_id: 1, state: 'connected' },
      { player_index: 0, subject_id: playerIndex === 0 ? 'alice' : 'bob', agent_id: 0, state: 'connected' },
    ],
    connections: [{ peer_index: 1 - playerIndex, role: playerIndex === 0 ? 'offer' : 'answer' }],
    ice_servers: [], ice_transport_policy: 'relay', upload, settings: (scene ?? p2pScene()).p2p.settings, rejoin,
  };
}

const hashOf = (f) => ((f * 2654435761) >>> 0).toString(16).padStart(16, '0');

/** A session record (session.record() shape) of a short finished game. */
export function sampleRecord({ partial = false, frames = 10 } = {}) {
  const rows = [];
  for (let f = 0; f < frames; f++) rows.push([f, [f % 3, 0], hashOf(f)]);
  return {
    partial,
    episodes: [{ episode: 0, seed: 7, start_frame: 0, end_frame: partial ? null : frames - 1, last_confirmed_frame: frames - 1, verified_frame: frames - 1, input_delays: [0, 0], frames: rows }],
    verified_frame: frames - 1,
    desyncs: [],
    connection_events: [],
    stats: {
      rtt_ms: { p50: 10, p95: 12, samples: 4 }, rollbacks: 0, max_rollback_depth: 0, rollback_depth_histogram: {},
      mispredicted_frames: 0, stalled_frames: 0, frames_simulated: frames, bytes_sent: 100, bytes_received: 100,
      messages_sent: 10, messages_received: 10, decode_errors: 0,
      path: { kind: 'relay', protocol: 'udp', local_candidate_type: 'relay', remote_candidate_type: 'relay' },
    },
    timing: { started_at: '2025-01-01T00:00:00.000Z', ended_at: '2025-01-01T00:00:01.000Z', duration_s: 1, fps_target: 30, fps_achieved: 10 },
    game_over_reason: partial ? null : 'completed',
  };
}

/** Let pending promise callbacks run. */
export const settle = () => new Promise((resolve) => setImmediate(resolve));

/** The server's answer to a `study_outcome` report (ParticipantLedger.page). */
export function outcomePage(outcome, { reason = null, code = null, redirectUrl = null, delay = null, subject = 'alice' } = {}) {
  return {
    subject_id: subject, outcome, reason, title: `T:${outcome}`, message: `M:${outcome}`, detail: null,
    next: 'N', code, redirect_url: redirectUrl, redirect_delay_s: redirectUrl ? delay ?? 5 : null,
    recorded_at: `2026-01-01T00:00:00.000Z#${outcome}`,
  };
}

/** Answer the last `study_outcome` report the page sent on ``root`` as the server would. */
export function answerOutcome(root, extra = {}) {
  const pending = root.acks.filter(([e]) => e === 'study_outcome');
  const [, payload, ack] = pending.at(-1);
  const page = outcomePage(payload.outcome, { reason: payload.reason, ...extra });
  ack({ ok: true, recorded: true, page });
  return { payload, page };
}

/** sessionStorage stand-in (getItem/setItem/removeItem over a Map). */
export function memoryStorage() {
  const m = new Map();
  return {
    map: m,
    getItem: (k) => (m.has(k) ? m.get(k) : null),
    setItem: (k, v) => { m.set(k, String(v)); },
    removeItem: (k) => { m.delete(k); },
  };
}
