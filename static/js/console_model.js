// The research console's view model: what the page shows, computed from the server's
// documents (the live state pushed on /p2p-console, a game's timeline, the export list and a
// comparison report; docs/console.md). Plain functions, no DOM, tested in node; the page
// (console_page.js) only puts their results into tables and charts.

import uPlot from '../vendor/uplot/uPlot.esm.js';

export const PLAYER_COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#8c564b', '#e377c2', '#17becf'];

/** "42 ms", or "–" when there is no sample. */
export function fmtMs(ms) {
  return Number.isFinite(ms) ? `${Math.round(ms)} ms` : '\u2013';
}

/** Seconds as "45 s", "3 min 05 s", "2 h 04 min". */
export function fmtDuration(s) {
  if (!Number.isFinite(s) || s < 0) return '\u2013';
  const t = Math.floor(s);
  if (t < 60) return `${t} s`;
  if (t < 3600) return `${Math.floor(t / 60)} min ${String(t % 60).padStart(2, '0')} s`;
  return `${Math.floor(t / 3600)} h ${String(Math.floor((t % 3600) / 60)).padStart(2, '0')} min`;
}

/** Wall time of an ISO string as HH:MM:SS (local), or the string itself if it is not a time. */
export function fmtClock(iso) {
  if (typeof iso !== 'string') return '\u2013';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false });
}

function dash(v) {
  return v === null || v === undefined ? '\u2013' : String(v);
}

/** Waiting rooms -> one row per waiter. */
export function waitingRows(state) {
  const rows = [];
  for (const room of state?.waiting ?? []) {
    for (const w of room.waiters) {
      rows.push({
        room: room.group ? `${room.scene_id} (group)` : room.scene_id,
        subject: w.subject_id,
        since: fmtClock(w.since),
        waited: fmtDuration(w.waited_s),
        left: fmtDuration(w.remaining_s),
        rtt: fmtMs(w.rtt_ms),
        needed: dash(room.players_needed),
        // Matchmaking's view of the waiter, when it gives one: probing a partner, held for a
        // bot fill, put back after a failed connection (requeues), or a bot itself.
        state: [w.bot ? 'bot' : null, w.state === 'bot' ? 'held for a bot fill' : w.state && w.state !== 'waiting' ? w.state : null,
          w.requeues ? `re-queued ${w.requeues}×` : null].filter(Boolean).join(', ') || 'waiting',
      });
    }
  }
  return rows;
}

/** One player's cell text: "0 alice (relay, 42 ms)" plus its flags. */
export function playerLabel(p) {
  const flags = [];
  if (p.bot) flags.push('bot');
  if (p.seat && p.seat !== 'connected') flags.push(p.seat);
  if (p.hidden) flags.push('hidden');
  if (p.stale) flags.push(p.reports ? 'no report for ' + fmtDuration(p.report_age_s) : 'no report yet');
  if (p.desyncs) flags.push(`desync at ${dash(p.first_desync_frame)}`);
  return `${p.player_index}: ${p.subject_id}${flags.length ? ` [${flags.join(', ')}]` : ''}`;
}

/** How matchmaking formed a game ("latency_fifo: estimated 80 ms, probed 75 ms, relay"), or "–". */
export function matchText(m) {
  if (!m || !m.matcher) return '–';
  const parts = [];
  if (m.reason) parts.push(String(m.reason));
  if (Number.isFinite(m.estimated_rtt_ms)) parts.push(`estimated ${Math.round(m.estimated_rtt_ms)} ms`);
  if (Number.isFinite(m.probed_rtt_ms)) parts.push(`probed ${Math.round(m.probed_rtt_ms)} ms`);
  if (m.path) parts.push(String(m.path));
  return parts.length ? `${m.matcher}: ${parts.join(', ')}` : String(m.matcher);
}

/** Condition counts per scene -> rows (completed games decide the balance). */
export function conditionRows(state) {
  const rows = [];
  for (const [scene, conditions] of Object.entries(state?.conditions ?? {})) {
    for (const [name, c] of Object.entries(conditions)) {
      rows.push({ scene, condition: name, completed: dash(c.completed), running: dash(c.running), target: dash(c.target) });
    }
  }
  return rows;
}

/** Games in progress -> one row each (newest last, as the server orders them). */
export function gameRows(state) {
  return (state?.games ?? []).map((g) => ({
    gameId: g.game_id,
    scene: g.condition ? `${g.scene_id} / ${g.condition}` : g.scene_id,
    players: g.players.map(playerLabel),
    frame: dash(g.frame),
    rtt: fmtMs(g.rtt_ms),
    rollbacks: String(g.rollbacks),
    stalls: String(g.stalled_frames),
    path: g.paths.length ? g.paths.join(', ') : '\u2013',
    desync: g.desync ? `yes, frame ${dash(g.first_desync_frame)}` : 'no',
    hidden: g.hidden_players.length ? g.hidden_players.map((i) => `player ${i}`).join(', ') : '\u2013',
    age: fmtDuration(g.age_s),
    match: matchText(g.match),
    flags: { desync: g.desync, hidden: g.hidden_players.length > 0, stale: g.players.some((p) => p.stale) },
  }));
}

/** Outcome text of a finished game as the console saw it. */
export function outcomeText(f) {
  if (!f) return 'not seen by this server process';
  const seats = Object.entries(f.seats ?? {}).map(([i, s]) => `${i}: ${s}`).join(', ');
  const by = f.ended_by === 'researcher' ? ', ended by the researcher' : '';
  return `${f.outcome}${by}${seats ? ` (${seats})` : ''}`;
}

/** Each participant of a finished game with the outcome its study ended with (and the code it
 * was given): "0 a: partner_left:left (PL-1), 1 b: no outcome yet". */
export function participantOutcomesText(f) {
  const list = f?.participants ?? [];
  if (!list.length) return '\u2013';
  return list.map((p) => {
    const who = `${p.player_index} ${p.subject_id ?? '?'}`;
    const o = p.outcome;
    if (!o) return `${who}: no outcome yet`;
    return `${who}: ${o.outcome}${o.reason ? `:${o.reason}` : ''}${o.code ? ` (${o.code})` : ''}`;
  }).join(', ');
}

/**
 * Finished games: the console's list (outcome, since this server started) joined with the
 * export list (uploads and comparison, from disk) by game id; newest first. Games still in
 * progress (`liveIds`: their folder exists from the start) are left out.
 */
export function finishedRows(feedFinished, exportGames, liveIds = []) {
  const live = new Set(liveIds);
  const byId = new Map();
  for (const f of feedFinished ?? []) byId.set(f.game_id, { gameId: f.game_id, finished: f, exports: null });
  for (const g of exportGames ?? []) {
    if (live.has(g.game_id) && !byId.has(g.game_id)) continue;
    const row = byId.get(g.game_id) ?? { gameId: g.game_id, finished: null, exports: null };
    row.exports = g;
    byId.set(g.game_id, row);
  }
  const rows = Array.from(byId.values()).map((r) => {
    const e = r.exports;
    const f = r.finished;
    const comparison = e ? e.comparison + (e.first_divergent_frame != null ? ` at frame ${e.first_divergent_frame}` : '') : 'no export yet';
    return {
      gameId: r.gameId,
      scene: f?.scene_id ?? e?.scene_id ?? '\u2013',
      when: f?.ended_at ?? e?.created_at ?? '',
      ended: f ? fmtClock(f.ended_at) : '\u2013',
      duration: f ? fmtDuration(f.duration_s) : '\u2013',
      outcome: outcomeText(f),
      participants: participantOutcomesText(f),
      uploads: e ? e.players.map((p) => `${p.player_index}: ${p.subject_id ?? '?'}${p.uploaded ? (p.partial ? ' (partial)' : ' \u2713') : ' \u2013'}`).join(', ') : '\u2013',
      verified: e ? dash(e.verified_frame) : '\u2013',
      desyncs: e ? dash(e.desyncs) : '\u2013',
      comparison,
      comparisonClass: e ? e.comparison : 'waiting',
      exports: e,
      finished: f,
    };
  });
  rows.sort((a, b) => (a.when < b.when ? 1 : a.when > b.when ? -1 : 0));
  return rows;
}

/** An x column and per-player y columns aligned on it (uPlot's table format, uPlot.join):
 * `undefined` where only another player has a sample (the line goes on across it), `null`
 * where the player reported no value (a gap). */
function aligned(players, xKey, yKey) {
  const tables = players.map((p) => {
    // Equal x values (frames while stalled) would break uPlot's sorted x: keep the last one.
    const xs = [];
    const ys = [];
    p[xKey].forEach((x, i) => {
      if (xs.length && xs[xs.length - 1] === x) { ys[ys.length - 1] = p[yKey][i]; return; }
      if (xs.length && x < xs[xs.length - 1]) return;
      xs.push(x);
      ys.push(p[yKey][i]);
    });
    return [xs, ys];
  });
  if (tables.length === 0) return [[]];
  return uPlot.join(tables);
}

/**
 * A timeline (GET .../timeline) as chart data over time ('t', seconds) or frames ('frame'):
 * {xLabel, charts: [{key, title, unit, data, series: [{label, color}]}], bands, markers}.
 * `bands`: hidden intervals [{player, from, to}] in x units (to: the last x while still hidden);
 * `markers`: desync markers [{player, x}].
 */
export function timelineCharts(tl, axis = 't') {
  const players = tl?.players ?? [];
  const xKey = axis === 'frame' ? 'frame' : 't';
  const series = players.map((p) => ({ label: `player ${p.player_index} (${p.subject_id ?? '?'})`, color: PLAYER_COLORS[p.player_index % PLAYER_COLORS.length] }));
  const charts = [
    { key: 'rtt_ms', title: 'RTT to the farthest peer', unit: 'ms' },
    { key: 'rollbacks', title: 'Rollbacks per sample', unit: '' },
    { key: 'stalls', title: 'Stalled frames per sample', unit: '' },
  ].map((c) => ({ ...c, data: aligned(players, xKey, c.key), series }));
  const bands = [];
  for (const p of players) {
    for (const iv of p.hidden_intervals ?? []) {
      const from = axis === 'frame' ? iv.start_frame : iv.start_t;
      const last = p[xKey].length ? p[xKey][p[xKey].length - 1] : from;
      const to = axis === 'frame' ? iv.end_frame ?? last : iv.end_t ?? last;
      bands.push({ player: p.player_index, from, to });
    }
  }
  const markers = (tl?.desync_markers ?? [])
    .map((m) => ({ player: m.player_index, x: axis === 'frame' ? m.frame : m.t }))
    .filter((m) => Number.isFinite(m.x));
  return { xLabel: axis === 'frame' ? 'frame' : 'seconds since the game started', charts, bands, markers };
}

/** A comparison report's state diff at the first divergent frame, as rows; null when none. */
export function stateDiff(comparison) {
  const d = comparison?.divergence;
  if (!d) return null;
  const diff = d.state_diff;
  const players = Object.keys(d.states ?? d.players ?? {}).sort((a, b) => Number(a) - Number(b));
  return {
    frame: d.frame,
    episode: d.episode,
    kind: d.kind,
    players,
    truncated: Boolean(diff?.truncated),
    rows: (diff?.paths ?? []).map((p) => ({
      path: p.path,
      values: players.map((i) => ((p.absent_in ?? []).map(String).includes(i) ? '(absent)' : i in (p.values ?? {}) ? JSON.stringify(p.values[i]) : '\u2013')),
    })),
    hashes: players.map((i) => d.players?.[i]?.hash ?? null),
  };
}
