// Session settings: defaults a researcher can override, validated up front so a bad value fails
// with an error that names the setting and its allowed range instead of misbehaving mid-game.
// Names are camelCase in JS; `fromSnakeCase` maps the scene config's snake_case names.

export class SettingsError extends RangeError {
  constructor(name, message) {
    super(message);
    this.name = 'SettingsError';
    this.setting = name;
  }
}

const I32_MIN = -2147483648;
const I32_MAX = 2147483647;

// Ranges are chosen so the engine's invariants hold: e.g. inputDelay + maxPredictionWindow stay
// small enough that a disconnect relay (at most 128 actions per INPUT) always covers the gap
// between two peers (see docs/rollback.md, "Disconnects").
export const SETTINGS_SPEC = Object.freeze({
  fps: { default: 30, int: true, min: 1, max: 240, doc: 'simulation frames per second' },
  inputDelay: { default: 'auto', int: true, min: 0, max: 16, auto: true, doc: "frames between a local input and the frame it applies to, or 'auto' (chosen from the RTT measured before the game)" },
  maxPredictionWindow: { default: 8, int: true, min: 0, max: 32, doc: 'frames the session may run past the last confirmed frame before it stalls' },
  inputRedundancy: { default: 5, int: true, min: 1, max: 128, doc: 'minimum number of most recent inputs in every INPUT message' },
  disconnectNotifyMs: { default: 750, int: false, min: 50, max: 600000, doc: 'silence before a peer is reported interrupted' },
  disconnectTimeoutMs: { default: 5000, int: false, min: 100, max: 3600000, doc: 'silence before a peer is declared disconnected' },
  handshakeTimeoutMs: { default: null, int: false, min: 100, max: 3600000, nullable: true, doc: 'wait from our start for a peer never heard from (null: disconnectTimeoutMs)' },
  hashInterval: { default: 1, int: true, min: 1, max: 100000, doc: 'hash confirmed frames whose number is a multiple of this' },
  disconnectPolicy: { default: 'end', oneOf: ['end', 'default_action'], doc: 'what a disconnect does to the game' },
  defaultAction: { default: 0, int: true, min: I32_MIN, max: I32_MAX, doc: 'action used for a missing or disconnected player' },
  maxEpisodes: { default: null, int: true, min: 1, max: 1e9, nullable: true, doc: 'game over after this many episodes (null = no limit)' },
  resetFreezeFrames: { default: 0, int: true, min: 0, max: 1000000, doc: 'ticks the last frame of an episode stays (no frame simulated) before the next episode may start (reset_freeze_s * fps)' },
  maxStepsPerEpisode: { default: null, int: true, min: 1, max: 2 ** 31, nullable: true, doc: 'an episode ends after this many frames even if the environment does not end it (null = no limit)' },
  pendingHashLimit: { default: 1024, int: true, min: 16, max: 1000000, doc: 'peer hashes buffered per peer before the local peer has confirmed their frames' },
  keepaliveMs: { default: 100, int: false, min: 10, max: 60000, doc: 'send KEEPALIVE to a peer that got nothing for this long' },
  pingIntervalMs: { default: 500, int: false, min: 20, max: 60000, doc: 'PING period per peer (RTT and frame advantage)' },
  helloIntervalMs: { default: 200, int: false, min: 10, max: 60000, doc: 'HELLO resend period until the peer answers' },
  resendMs: { default: 100, int: false, min: 10, max: 60000, doc: 'resend period of EPISODE_READY/EPISODE_END, disconnect relays and BYE(game over)' },
  hashResendMs: { default: 500, int: false, min: 20, max: 60000, doc: 'a missing peer hash is requested again after this long' },
  maxUnverifiedStates: { default: 1200, int: true, min: 1, max: 1000000, doc: 'snapshots of confirmed but not yet verified frames kept for desync state dumps' },
  maxDesyncEvents: { default: 32, int: true, min: 1, max: 100000, doc: 'desync events kept in the record (all mismatches are counted)' },
  maxStateDumps: { default: 4, int: true, min: 0, max: 100000, doc: 'desync events that carry a full state dump' },
  timeSyncWindow: { default: 30, int: true, min: 4, max: 600, doc: 'frame-advantage samples averaged by time sync' },
  rttSamples: { default: 2048, int: true, min: 16, max: 1000000, doc: 'most recent RTT samples kept for the p50/p95' },
  countdownFrames: { default: 0, int: true, min: 0, max: 65535, doc: 'ticks of the start countdown after the handshake, lined up across peers (0 = start at once)' },
  hiddenAction: { default: null, int: true, min: I32_MIN, max: I32_MAX, nullable: true, doc: 'local action while the page is hidden (null = defaultAction)' },
  maxHiddenMs: { default: null, int: false, min: 100, max: 86400000, nullable: true, doc: 'the local player is excluded once its page was hidden this long without a break (null = never)' },
  hiddenPolicy: { default: 'end', oneOf: ['end', 'default_action'], doc: 'after a hidden-too-long exclusion: end the game for everyone, or the others play on with its default action' },
  awayTimeoutMs: { default: 30000, int: false, min: 0, max: 7200000, doc: 'a peer whose page went away (BYE away, or the page says the server holds its seat) is waited for this long to rejoin before it counts as disconnected (0 = a reload is leaving; scene: (reconnect_grace_s + connection_timeout_s) * 1000)' },
  catchupChunksPerTick: { default: 12, int: true, min: 1, max: 256, doc: 'catch-up chunks a source sends per tick (each up to 1000 bytes)' },
  catchupBudgetMs: { default: 12, int: false, min: 1, max: 1000, doc: 'time per tick a rejoining session spends re-simulating' },
  catchupFramesPerTick: { default: 2000, int: true, min: 1, max: 1000000, doc: 'frames per tick a rejoining session re-simulates at most' },
});

export const DEFAULT_SETTINGS = Object.freeze(
  Object.fromEntries(Object.entries(SETTINGS_SPEC).map(([k, v]) => [k, v.default])),
);

function checkOne(name, spec, value) {
  if (value === null && spec.nullable) return null;
  if (value === 'auto' && spec.auto) return 'auto';
  if (spec.oneOf) {
    if (!spec.oneOf.includes(value)) {
      throw new SettingsError(name, `setting ${name} must be one of ${spec.oneOf.map((v) => JSON.stringify(v)).join(', ')}, got ${JSON.stringify(value)}`);
    }
    return value;
  }
  const what = (spec.auto ? "'auto' or " : '') + (spec.int ? 'an integer' : 'a number');
  const nullable = spec.nullable ? ' or null' : '';
  if (typeof value !== 'number' || !Number.isFinite(value) || (spec.int && !Number.isInteger(value))) {
    throw new SettingsError(name, `setting ${name} must be ${what} in [${spec.min}, ${spec.max}]${nullable}, got ${JSON.stringify(value)}`);
  }
  if (value < spec.min || value > spec.max) {
    throw new SettingsError(name, `setting ${name} must be ${what} in [${spec.min}, ${spec.max}]${nullable}, got ${value}`);
  }
  return value;
}

/**
 * Merge overrides into the defaults and validate every value.
 * @param {object} [overrides]
 * @returns {Readonly<typeof DEFAULT_SETTINGS>}
 */
export function makeSettings(overrides = {}) {
  if (overrides === null || typeof overrides !== 'object' || Array.isArray(overrides)) {
    throw new SettingsError('settings', `settings must be an object, got ${JSON.stringify(overrides)}`);
  }
  for (const key of Object.keys(overrides)) {
    if (!Object.prototype.hasOwnProperty.call(SETTINGS_SPEC, key)) {
      throw new SettingsError(key, `unknown setting ${key}; known settings: ${Object.keys(SETTINGS_SPEC).join(', ')}`);
    }
  }
  const out = {};
  for (const [name, spec] of Object.entries(SETTINGS_SPEC)) {
    const value = Object.prototype.hasOwnProperty.call(overrides, name) && overrides[name] !== undefined
      ? overrides[name]
      : spec.default;
    out[name] = checkOne(name, spec, value);
  }
  if (out.disconnectTimeoutMs <= out.disconnectNotifyMs) {
    throw new SettingsError('disconnectTimeoutMs', `setting disconnectTimeoutMs (${out.disconnectTimeoutMs}) must be greater than disconnectNotifyMs (${out.disconnectNotifyMs})`);
  }
  return Object.freeze(out);
}

/** snake_case (Python scene config) -> camelCase setting names; unknown keys are kept as-is so
 * makeSettings reports them. */
export function fromSnakeCase(obj) {
  const out = {};
  for (const [k, v] of Object.entries(obj)) {
    out[k.replace(/_([a-z])/g, (_, c) => c.toUpperCase())] = v;
  }
  return out;
}
