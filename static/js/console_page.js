// The researcher page (templates/research.html): the live console and the export table.
//
// The page holds no data until the researcher gives the token: then it opens the
// /p2p-console Socket.IO namespace (token in the connect packet's auth, never in a URL), gets
// `console_state` every 2 s, and calls the JSON API with the token in a header for the export
// list, timelines, comparison reports and the two actions (end a game, open/close
// recruitment). What to show comes from console_model.js; this module only builds DOM (text
// nodes, never HTML from data) and uPlot charts. Test hook: window.p2pConsole.

import { io } from '../vendor/socket.io/socket.io.esm.min.js';
import uPlot from '../vendor/uplot/uPlot.esm.js';
import {
  PLAYER_COLORS, conditionRows, finishedRows, fmtClock, gameRows, stateDiff, timelineCharts, waitingRows,
} from './console_model.js';

const TOKEN_KEY = 'igp2p-research-token';

function el(doc, tag, props = {}, ...children) {
  const node = doc.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (k === 'className') node.className = v;
    else if (k === 'dataset') Object.assign(node.dataset, v);
    else if (k.startsWith('on')) node.addEventListener(k.slice(2), v);
    else if (v !== undefined && v !== null) node.setAttribute(k, v);
  }
  for (const c of children) node.append(c instanceof doc.defaultView.Node ? c : String(c ?? ''));
  return node;
}

/** Bands (hidden intervals) and markers (desyncs) drawn over a chart. */
function overlayPlugin(overlay) {
  return {
    hooks: {
      draw: [(u) => {
        const { ctx } = u;
        const { top, height } = u.bbox;
        ctx.save();
        for (const b of overlay.bands) {
          const x0 = u.valToPos(b.from, 'x', true);
          const x1 = u.valToPos(b.to, 'x', true);
          ctx.fillStyle = 'rgba(120, 120, 120, 0.18)';
          ctx.fillRect(x0, top, Math.max(2, x1 - x0), height);
        }
        ctx.setLineDash([5, 4]);
        ctx.lineWidth = 2;
        for (const m of overlay.markers) {
          const x = u.valToPos(m.x, 'x', true);
          ctx.strokeStyle = '#b3261e';
          ctx.beginPath();
          ctx.moveTo(x, top);
          ctx.lineTo(x, top + height);
          ctx.stroke();
        }
        ctx.restore();
      }],
    },
  };
}

export function startConsole(win = globalThis.window) {
  const doc = win.document;
  const config = JSON.parse(doc.getElementById('console-config').textContent);
  const $ = (id) => doc.getElementById(id);
  const tokenInput = $('token');
  tokenInput.value = win.sessionStorage.getItem(TOKEN_KEY) ?? '';

  // Test hook (like the participant page's window.p2p): what the page shows, as data.
  const hook = {
    connected: false, live: null, error: null, state: null, exports: null, updates: 0,
    timeline: null, timelineGame: null, axis: 't', charts: [], diff: null, lastAction: null,
  };
  win.p2pConsole = hook;

  let socket = null;
  let exportGames = [];
  let knownFinished = new Set();
  let timelineFetching = false;
  let plots = [];
  let plotKey = null;
  const overlay = { bands: [], markers: [] };

  function say(text, where = 'status') {
    $(where).textContent = text;
  }

  async function api(path, init = {}) {
    const headers = { Authorization: `Bearer ${tokenInput.value}`, ...(init.body ? { 'Content-Type': 'application/json' } : {}) };
    const response = await win.fetch(config.api + path, { ...init, headers });
    if (!response.ok) {
      let message = `${response.status}`;
      try { message = (await response.json()).message ?? message; } catch { /* not JSON */ }
      const err = new Error(message);
      err.status = response.status;
      throw err;
    }
    return response;
  }

  async function download(path, filename) {
    say(`downloading ${filename}...`);
    try {
      const blob = await (await api(path)).blob();
      const a = el(doc, 'a', { href: win.URL.createObjectURL(blob), download: filename });
      a.click();
      win.setTimeout(() => win.URL.revokeObjectURL(a.href), 60000);
      say('');
    } catch (err) { say(`download failed: ${err.message}`); }
  }

  function button(label, onclick, className = 'link') {
    return el(doc, 'button', { type: 'button', className, onclick }, label);
  }

  // ---------------------------------------------------------------- connect

  async function connect() {
    say('connecting...');
    hook.error = null;
    try {
      await loadExports();
    } catch (err) {
      hook.error = err.message;
      say(`could not list games: ${err.message}`);
      return;
    }
    win.sessionStorage.setItem(TOKEN_KEY, tokenInput.value);
    $('all').disabled = false;
    $('study').disabled = false;
    $('panels').hidden = false;
    socket?.disconnect();
    // Is there a live console here? A validation-only server has none (its API says 404).
    try {
      render(await (await api('/live')).json());
    } catch (err) {
      if (err.status !== 404) {
        hook.error = err.message;
        say(`the live console is unavailable: ${err.message}`);
        return;
      }
      hook.live = false;
      $('live').hidden = true;
      $('liveNote').textContent = 'This server has no live console (no experiment running here): finished games only.';
      say(`${exportGames.length} game(s)`);
      return;
    }
    socket = io(config.console_namespace, {
      path: config.socketio_path, auth: { token: tokenInput.value }, transports: ['websocket', 'polling'],
    });
    socket.on('connect', () => {
      hook.connected = true;
      hook.live = true;
      say('live');
      $('liveNote').textContent = '';
    });
    socket.on('disconnect', () => {
      hook.connected = false;
      say('live feed lost; reconnecting...');
    });
    socket.on('connect_error', (err) => {
      const code = err?.data?.code;
      if (code === 'wrong_token' || code === 'missing_token') {
        hook.error = code;
        say(`the live console refused the token (${code})`);
        socket.disconnect();
        return;
      }
      say('live feed unavailable; retrying...');
    });
    socket.on('console_state', render);
  }

  async function loadExports() {
    const { games } = await (await api('/games')).json();
    exportGames = games;
    hook.exports = games;
    renderFinished();
    // The open timeline's game got its comparison since: show its diff now.
    const open = hook.timelineGame && games.find((g) => g.game_id === hook.timelineGame);
    if (open && hook.diff === null && open.comparison !== 'waiting' && !timelineFetching) {
      showDiff(open.game_id, hook.timeline).catch(() => {});
    }
  }

  // ---------------------------------------------------------------- live state

  function render(state) {
    hook.state = state;
    hook.updates += 1;
    renderRecruitment(state.recruitment);
    const c = state.counts;
    $('counts').textContent = `${c.waiting} waiting \u00b7 ${c.games} game(s) in progress (${c.players} players) \u00b7 updated ${fmtClock(state.generated_at)}`;
    renderWaiting(state);
    renderConditions(state);
    renderGames(state);
    // A game that just finished: its exports may be arriving; list them again.
    const finishedIds = new Set(state.finished.map((f) => f.game_id));
    const fresh = [...finishedIds].some((id) => !knownFinished.has(id));
    knownFinished = finishedIds;
    if (fresh) loadExports().catch(() => {});
    else renderFinished();
    if (hook.timelineGame && !timelineFetching && hook.timeline?.live) showTimeline(hook.timelineGame, { quiet: true });
  }

  function renderRecruitment(r) {
    $('recruitmentState').textContent = r.open ? 'Recruitment is open' : 'Recruitment is CLOSED: new arrivals are turned away (study_full)';
    $('recruitmentState').className = r.open ? 'open' : 'closed';
    $('recruitmentChanged').textContent = r.changed_at ? ` (since ${fmtClock(r.changed_at)})` : '';
    $('recruitmentToggle').textContent = r.open ? 'Close recruitment' : 'Reopen recruitment';
    $('recruitmentToggle').dataset.open = String(r.open);
  }

  function renderWaiting(state) {
    const body = doc.querySelector('#waiting tbody');
    body.replaceChildren();
    const rows = waitingRows(state);
    for (const r of rows) {
      body.append(el(doc, 'tr', {}, ...[r.room, r.subject, r.since, r.waited, r.left, r.rtt, r.state].map((v) => el(doc, 'td', {}, v))));
    }
    $('waitingEmpty').hidden = rows.length > 0;
  }

  function renderConditions(state) {
    const rows = conditionRows(state);
    const body = doc.querySelector('#conditions tbody');
    body.replaceChildren();
    for (const r of rows) {
      body.append(el(doc, 'tr', {}, ...[r.scene, r.condition, r.completed, r.running, r.target].map((v) => el(doc, 'td', {}, v))));
    }
    $('conditionsBox').hidden = rows.length === 0;
  }

  function renderGames(state) {
    const body = doc.querySelector('#games tbody');
    body.replaceChildren();
    const rows = gameRows(state);
    for (const r of rows) {
      const players = el(doc, 'td', { className: 'players' });
      r.players.forEach((p, i) => players.append(...(i ? [el(doc, 'br')] : []), p));
      const actions = el(doc, 'td', {},
        button('timeline', () => showTimeline(r.gameId)), ' ',
        button('end game', () => askEnd(r.gameId), 'danger'));
      const tr = el(doc, 'tr', { dataset: { gameId: r.gameId } },
        el(doc, 'td', { className: 'mono' }, r.gameId), el(doc, 'td', {}, r.scene), players,
        el(doc, 'td', {}, r.frame), el(doc, 'td', {}, r.rtt), el(doc, 'td', {}, r.rollbacks), el(doc, 'td', {}, r.stalls),
        el(doc, 'td', {}, r.path), el(doc, 'td', { className: r.flags.desync ? 'diverged' : '' }, r.desync),
        el(doc, 'td', { className: r.flags.hidden ? 'warn' : '' }, r.hidden), el(doc, 'td', {}, r.age),
        el(doc, 'td', { className: 'small' }, r.match), actions);
      if (r.flags.stale) tr.classList.add('stale');
      body.append(tr);
    }
    $('gamesEmpty').hidden = rows.length > 0;
  }

  function renderFinished() {
    const body = doc.querySelector('#finished tbody');
    body.replaceChildren();
    const rows = finishedRows(hook.state?.finished ?? [], exportGames, (hook.state?.games ?? []).map((g) => g.game_id));
    for (const r of rows) {
      const gid = encodeURIComponent(r.gameId);
      const links = el(doc, 'td', {});
      if (r.exports) {
        links.append(button('game.zip', () => download(`/games/${gid}/download`, `${r.gameId}.zip`)));
        for (const p of r.exports.players.filter((q) => q.uploaded)) {
          links.append(' ', button(`player ${p.player_index}`, () => download(`/games/${gid}/exports/${p.player_index}`, `${r.gameId}-player-${p.player_index}.json`)));
        }
        if (r.exports.comparison !== 'waiting') {
          links.append(' ', button('report', () => download(`/games/${gid}/comparison`, `${r.gameId}-comparison.json`)));
        }
      }
      links.append(' ', button('timeline', () => showTimeline(r.gameId)));
      body.append(el(doc, 'tr', { dataset: { gameId: r.gameId } },
        el(doc, 'td', { className: 'mono' }, r.gameId), el(doc, 'td', {}, r.scene), el(doc, 'td', {}, r.ended),
        el(doc, 'td', {}, r.duration), el(doc, 'td', {}, r.outcome),
        el(doc, 'td', { className: 'participant-outcomes' }, r.participants), el(doc, 'td', {}, r.uploads),
        el(doc, 'td', {}, r.verified), el(doc, 'td', {}, r.desyncs),
        el(doc, 'td', { className: r.comparisonClass }, r.comparison), links));
    }
    $('finishedEmpty').hidden = rows.length > 0;
  }

  // ---------------------------------------------------------------- actions

  function askEnd(gameId) {
    $('endGameId').textContent = gameId;
    $('endMessage').value = '';
    $('endResult').textContent = '';
    $('endPanel').hidden = false;
    $('endPanel').dataset.gameId = gameId;
    $('endMessage').focus();
  }

  async function endGame() {
    const gameId = $('endPanel').dataset.gameId;
    const message = $('endMessage').value.trim();
    $('endConfirm').disabled = true;
    try {
      const ack = await (await api(`/live/games/${encodeURIComponent(gameId)}/end`, {
        method: 'POST', body: JSON.stringify(message ? { message } : {}),
      })).json();
      hook.lastAction = { action: 'end', gameId, ok: true, players: ack.players };
      $('endResult').textContent = `Game ${gameId} ended; players ${ack.players.join(', ')} were told.`;
      $('endPanel').hidden = true;
      say(`game ${gameId} ended`);
    } catch (err) {
      hook.lastAction = { action: 'end', gameId, ok: false, error: err.message };
      $('endResult').textContent = `Could not end game ${gameId}: ${err.message}`;
    } finally {
      $('endConfirm').disabled = false;
    }
  }

  async function setRecruitment(open) {
    try {
      const { recruitment } = await (await api('/live/recruitment', { method: 'POST', body: JSON.stringify({ open }) })).json();
      hook.lastAction = { action: 'recruitment', ok: true, open: recruitment.open };
      renderRecruitment(recruitment);
      $('recruitmentConfirm').hidden = true;
    } catch (err) {
      hook.lastAction = { action: 'recruitment', ok: false, error: err.message };
      say(`could not change recruitment: ${err.message}`);
    }
  }

  // ---------------------------------------------------------------- timeline

  async function showTimeline(gameId, { quiet = false } = {}) {
    if (timelineFetching) return;
    timelineFetching = true;
    if (hook.timelineGame !== gameId) {
      hook.diff = null;
      $('diff').replaceChildren();
    }
    hook.timelineGame = gameId;
    $('timeline').hidden = false;
    $('timelineTitle').textContent = `Timeline of game ${gameId}`;
    try {
      let tl = null;
      try {
        tl = await (await api(`/live/games/${encodeURIComponent(gameId)}/timeline`)).json();
      } catch (err) {
        if (err.status !== 404) throw err;
      }
      hook.timeline = tl;
      if (tl === null) {
        $('timelineNote').textContent = 'This server has no timeline of this game (it finished before the server started, or too long ago). The exports keep its per-player record.';
        destroyPlots();
      } else {
        const ended = tl.ended ? ` \u00b7 ended ${fmtClock(tl.ended.ended_at)} (${tl.ended.outcome}${tl.ended.ended_by ? `, by the ${tl.ended.ended_by}` : ''})` : ' \u00b7 live';
        $('timelineNote').textContent = `${tl.players.length} player(s), ${tl.players.map((p) => p.t.length).join('/')} samples every ${tl.report_interval_s} s${ended}`;
        drawTimeline(tl);
      }
      // While a game runs there is no comparison yet: the diff is asked for once it is over.
      if (!quiet || (hook.diff === null && tl !== null && !tl.live)) await showDiff(gameId, tl);
    } catch (err) {
      if (!quiet) $('timelineNote').textContent = `Could not load the timeline: ${err.message}`;
    } finally {
      timelineFetching = false;
    }
  }

  function destroyPlots() {
    for (const p of plots) p.destroy();
    plots = [];
    plotKey = null;
    hook.charts = [];
    $('charts').replaceChildren();
    $('overlayText').textContent = '';
  }

  function drawTimeline(tl) {
    const view = timelineCharts(tl, hook.axis);
    overlay.bands = view.bands;
    overlay.markers = view.markers;
    const key = `${tl.game_id}:${hook.axis}:${tl.players.length}`;
    const width = Math.max(320, Math.min(1100, $('charts').clientWidth || 900));
    if (plotKey !== key) {
      destroyPlots();
      plotKey = key;
      for (const c of view.charts) {
        const box = el(doc, 'div', { className: 'chart', dataset: { series: c.key } }, el(doc, 'h3', {}, c.title));
        $('charts').append(box);
        const opts = {
          width, height: 170,
          scales: { x: { time: false } },
          axes: [{ label: view.xLabel }, { label: c.unit, size: 60 }],
          series: [{ label: hook.axis === 'frame' ? 'frame' : 's' },
            ...c.series.map((s) => ({ label: s.label, stroke: s.color, width: 2, points: { show: false } }))],
          plugins: [overlayPlugin(overlay)],
        };
        plots.push(new uPlot(opts, c.data, box));
      }
    } else {
      view.charts.forEach((c, i) => plots[i].setData(c.data));
    }
    hook.charts = view.charts.map((c) => ({ key: c.key, points: c.data[0].length }));
    const hidden = view.bands.map((b) => `player ${b.player} ${b.from}\u2013${b.to}`).join('; ');
    const marks = view.markers.map((m) => `player ${m.player} at ${m.x}`).join('; ');
    $('overlayText').textContent = `Hidden (grey): ${hidden || 'none'}. Desync (red dashes): ${marks || 'none'}.`;
  }

  async function showDiff(gameId, tl) {
    const box = $('diff');
    let detail = null;
    try {
      detail = await (await api(`/games/${encodeURIComponent(gameId)}`)).json();
    } catch (err) {
      if (err.status !== 404) throw err;
    }
    const diff = stateDiff(detail?.comparison);
    hook.diff = diff;
    box.replaceChildren();
    if (diff === null) {
      const desync = tl?.desync_markers?.length;
      if (desync) box.append(el(doc, 'p', {}, 'A desync was reported; the state diff appears once every player has uploaded its export.'));
      return;
    }
    box.append(el(doc, 'h3', {}, `State diff at the first divergent frame ${diff.frame} (episode ${diff.episode}, ${diff.kind})`));
    const head = el(doc, 'tr', {}, el(doc, 'th', {}, 'path'), ...diff.players.map((p) => el(doc, 'th', { style: `color: ${PLAYER_COLORS[Number(p) % PLAYER_COLORS.length]}` }, `player ${p}`)));
    const table = el(doc, 'table', { id: 'diffTable' }, el(doc, 'thead', {}, head), el(doc, 'tbody'));
    for (const r of diff.rows) {
      table.tBodies[0].append(el(doc, 'tr', {}, el(doc, 'td', { className: 'mono' }, r.path), ...r.values.map((v) => el(doc, 'td', { className: 'mono' }, v))));
    }
    if (diff.rows.length === 0) box.append(el(doc, 'p', {}, 'No state dump at that frame (hashes or actions differ; see the comparison report).'));
    box.append(table);
    if (diff.truncated) box.append(el(doc, 'p', {}, 'Only the first 200 differing paths are listed.'));
  }

  // ---------------------------------------------------------------- wiring

  $('login').addEventListener('submit', (e) => { e.preventDefault(); connect(); });
  $('all').addEventListener('click', () => download('/download', 'validation-exports.zip'));
  // The study zip: research tables, codebook, raw exports, reports, participant records (docs/data.md).
  $('study').addEventListener('click', () => download('/study.zip', 'study.zip'));
  $('refreshExports').addEventListener('click', () => loadExports().catch((err) => say(`could not list games: ${err.message}`)));
  $('endConfirm').addEventListener('click', endGame);
  $('endCancel').addEventListener('click', () => { $('endPanel').hidden = true; });
  $('recruitmentToggle').addEventListener('click', () => {
    const open = $('recruitmentToggle').dataset.open === 'true';
    if (!open) { setRecruitment(true); return; }
    $('recruitmentConfirm').hidden = false;
  });
  $('recruitmentCloseNow').addEventListener('click', () => setRecruitment(false));
  $('recruitmentCancel').addEventListener('click', () => { $('recruitmentConfirm').hidden = true; });
  $('timelineClose').addEventListener('click', () => {
    $('timeline').hidden = true;
    hook.timelineGame = null;
    hook.timeline = null;
    destroyPlots();
  });
  for (const radio of doc.querySelectorAll('input[name="axis"]')) {
    radio.addEventListener('change', () => {
      hook.axis = radio.value;
      if (hook.timeline) drawTimeline(hook.timeline);
    });
  }
  if (tokenInput.value) connect();
  return hook;
}

if (typeof window !== 'undefined' && typeof document !== 'undefined' && document.getElementById('console-config')) {
  startConsole(window);
}
