// Resuming a game after a page reload, the page's part (docs/client.md, "Reload during the
// game"). The session rebuilds every confirmed row from the peers' inputs; what only this page
// knew before the reload (its hidden intervals, connection and desync events, counters, when
// the game started) is kept in sessionStorage on `pagehide` (a "resume note": it survives a
// reload of the same tab, not a new tab) and merged into the new session's record, so the
// export is one document for the whole game.

const NOTE_PREFIX = 'igp2p:resume:';
export const NOTE_VERSION = 1;

// Counters that add up across the pages of one game (the rest describe the last page only).
const ADDITIVE_STATS = [
  'rollbacks', 'mispredicted_frames', 'stalled_frames', 'frames_simulated', 'bytes_sent', 'bytes_received',
  'messages_sent', 'messages_received', 'decode_errors', 'frames_advanced', 'stalled_at_terminal',
  'timesync_wait_frames', 'send_errors', 'ignored_messages', 'invalid_messages', 'hashes_compared',
  'hash_mismatches', 'hashes_dropped', 'hash_requests_sent', 'hash_answers_sent', 'snapshot_loads',
];

export function noteKey(gameId, playerIndex) {
  return `${NOTE_PREFIX}${gameId}:${playerIndex}`;
}

/** The page-only part of a record worth keeping across a reload. */
function notePart(record) {
  const stats = {};
  for (const k of ADDITIVE_STATS) if (typeof record.stats?.[k] === 'number') stats[k] = record.stats[k];
  stats.max_rollback_depth = record.stats?.max_rollback_depth ?? 0;
  stats.rollback_depth_histogram = { ...(record.stats?.rollback_depth_histogram ?? {}) };
  return {
    started_at: record.timing?.started_at ?? null,
    connection_events: record.connection_events ?? [],
    desyncs: record.desyncs ?? [],
    hidden_intervals: record.hidden_intervals ?? [],
    rejoins: record.rejoins ?? [],
    stats,
  };
}

/**
 * On `pagehide` with the seat kept: remember what this page knew, merged with the note of an
 * earlier reload of the same game. Never throws (a full or missing storage loses the note).
 * @returns {boolean} whether it was written
 */
export function saveResumeNote(storage, { gameId, playerIndex, record, previous = null, now = Date.now() }) {
  try {
    if (!storage || !record) return false;
    const merged = previous ? mergeResumed(previous.record, record, previous.saved_at) : record;
    const note = { version: NOTE_VERSION, game_id: gameId, player_index: playerIndex, saved_at: new Date(now).toISOString(), record: notePart(merged) };
    storage.setItem(noteKey(gameId, playerIndex), JSON.stringify(note));
    return true;
  } catch {
    return false;
  }
}

/** The note a previous page of this tab left for this game and seat, or null. Never throws. */
export function loadResumeNote(storage, gameId, playerIndex) {
  try {
    const text = storage?.getItem(noteKey(gameId, playerIndex));
    if (!text) return null;
    const note = JSON.parse(text);
    if (note?.version !== NOTE_VERSION || note.game_id !== gameId || note.player_index !== playerIndex || !note.record) return null;
    return note;
  } catch {
    return null;
  }
}

export function dropResumeNote(storage, gameId, playerIndex) {
  try { storage?.removeItem(noteKey(gameId, playerIndex)); } catch { /* nothing to drop */ }
}

function byTime(a, b) {
  return Date.parse(a.time) - Date.parse(b.time);
}

/**
 * The record of a rejoined session with what the earlier pages knew (`before`: a note's
 * record, or a whole earlier record): one record for the whole game. Rows, verified frame and
 * episodes are the new session's (re-made from the peers' inputs and checked frame by frame).
 * @param {object} before   the earlier pages' part (notePart shape)
 * @param {object} after    the new session's record()
 * @param {string|null} [reloadedAt]  when the last page went away (the note's saved_at)
 */
export function mergeResumed(before, after, reloadedAt = null) {
  if (!before) return after;
  const out = { ...after };
  out.connection_events = [...(before.connection_events ?? []), ...(after.connection_events ?? [])].sort(byTime);
  // Pre-reload desyncs are found again by the re-simulation (against the source's hashes):
  // one event per frame and peer, the earliest frames kept, as the session keeps them.
  const seen = new Set();
  out.desyncs = [];
  for (const d of [...(after.desyncs ?? []), ...(before.desyncs ?? [])].sort((a, b) => a.frame - b.frame || a.peer_index - b.peer_index)) {
    const key = `${d.frame}:${d.peer_index}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.desyncs.push(d);
  }
  out.hidden_intervals = [...(before.hidden_intervals ?? []), ...(after.hidden_intervals ?? [])];
  const rejoins = (after.rejoins ?? []).map((r) => ({ ...r }));
  if (rejoins.length > 0 && reloadedAt !== null) rejoins[0] = { reloaded_at: reloadedAt, ...rejoins[0] };
  out.rejoins = [...(before.rejoins ?? []), ...rejoins];
  const stats = { ...after.stats };
  for (const k of ADDITIVE_STATS) {
    if (typeof before.stats?.[k] === 'number' && typeof stats[k] === 'number') stats[k] += before.stats[k];
  }
  stats.max_rollback_depth = Math.max(stats.max_rollback_depth ?? 0, before.stats?.max_rollback_depth ?? 0);
  const hist = { ...(stats.rollback_depth_histogram ?? {}) };
  for (const [depth, n] of Object.entries(before.stats?.rollback_depth_histogram ?? {})) hist[depth] = (hist[depth] ?? 0) + n;
  stats.rollback_depth_histogram = hist;
  out.stats = stats;
  if (before.started_at) {
    // The game started on the first page; the builder recomputes the duration from the times.
    out.timing = { ...after.timing, started_at: before.started_at, duration_s: null };
  }
  return out;
}
