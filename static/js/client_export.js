// The participant's validation export: ids from game_ready, the text shown while it uploads,
// and the best-effort partial upload when the page is closed mid-game.

import { buildExport } from './validation.js';

/** ids block of the export for this participant (game_ready gives every player's subject id,
 * which seats are bots, and the game's condition; the recruitment ids are this participant's,
 * as the server stored them). */
export function exportIds(gameReady, { sceneId, subjectId, recruitment = {} }) {
  const me = gameReady.player_index;
  const peers = (gameReady.players ?? [])
    .filter((p) => p.player_index !== me)
    .map((p) => (p.bot === true ? { player_index: p.player_index, subject_id: p.subject_id, bot: true }
      : { player_index: p.player_index, subject_id: p.subject_id }))
    .sort((a, b) => a.player_index - b.player_index);
  const ids = {
    game_id: gameReady.game_id,
    scene_id: gameReady.scene_id ?? sceneId,
    subject_id: subjectId,
    player_index: me,
    peers,
    recruitment: { ...recruitment },
  };
  // Present only when they apply: the game's condition; this seat being a bot's.
  if (typeof gameReady.condition === 'string') ids.condition = gameReady.condition;
  if ((gameReady.players ?? []).some((p) => p.player_index === me && p.bot === true)) ids.bot = true;
  // Seats an AI policy played (their actions are in the rows like anyone's).
  // A hosted (ONNX) seat also names its host, the player whose page ran the model and sent its actions.
  const ai = (gameReady.ai_seats ?? []).map((a) => ({
    player_index: a.player_index, agent_id: a.agent_id ?? null, policy: a.policy, kind: a.kind ?? 'python',
    ...(a.kind === 'onnx' ? { host: a.host } : {}),
  }));
  if (ai.length > 0) ids.ai_seats = ai.sort((a, b) => a.player_index - b.player_index);
  return ids;
}

/** The export document of a finished (or abandoned) game. */
export function gameExport({ record, gameReady, sceneId, subjectId, recruitment, partial, now }) {
  const settings = gameReady.settings ?? {};
  return buildExport({
    record,
    ids: exportIds(gameReady, { sceneId, subjectId, recruitment }),
    settings: { p2p: settings.p2p ?? {}, validation: settings.validation ?? {}, impairment: settings.impairment ?? null },
    partial,
    now,
  });
}

/**
 * Participant-facing text and the window.p2p.upload fields for one onStatus step of
 * validation.js uploadExport. Returns {status, attempts, error, text, final, ok}.
 */
export function uploadStatus(step) {
  const attempt = step.attempt ?? step.attempts ?? 0;
  switch (step.phase) {
    case 'uploading':
      return { status: 'uploading', attempts: attempt, error: null, final: false, ok: false,
        text: `Saving your data... (attempt ${attempt})` };
    case 'retrying':
      return { status: 'uploading', attempts: attempt, error: step.reason ?? null, final: false, ok: false,
        text: `Saving your data did not work (${step.reason}); trying again in ${Math.max(1, Math.round((step.delayMs ?? 0) / 1000))} s (attempt ${attempt + 1} of ${step.maxAttempts}).` };
    case 'stored':
    case 'duplicate':
      return { status: 'uploaded', attempts: attempt, error: null, final: true, ok: true,
        text: 'Your data is saved.' };
    case 'rejected': {
      const why = step.message ?? `HTTP ${step.httpStatus}`;
      return { status: 'failed', attempts: attempt, error: why, final: true, ok: false,
        text: `Could not save your data: ${why}. Please tell the experimenter.` };
    }
    case 'failed': {
      const why = step.reason ?? 'no answer from the server';
      return { status: 'failed', attempts: attempt, error: why, final: true, ok: false,
        text: `Could not save your data: ${why}. Please tell the experimenter.` };
    }
    default:
      return { status: 'uploading', attempts: attempt, error: null, final: false, ok: false, text: 'Saving your data...' };
  }
}

/** fetch keepalive bodies are capped at 64 KiB by the browser (for all pending requests). */
export const KEEPALIVE_LIMIT_BYTES = 63 * 1024;

/**
 * Page closing mid-game: send what we have with fetch keepalive (navigator.sendBeacon cannot set
 * the Authorization header). Returns {sent, reason}; never throws.
 */
export function sendPartialExport({ url, token, doc, fetch: fetchImpl = globalThis.fetch }) {
  try {
    const body = typeof doc === 'string' ? doc : JSON.stringify(doc);
    const size = typeof TextEncoder === 'function' ? new TextEncoder().encode(body).byteLength : body.length;
    if (size > KEEPALIVE_LIMIT_BYTES) return { sent: false, reason: `partial export is ${size} bytes, above the keepalive limit` };
    if (typeof fetchImpl !== 'function') return { sent: false, reason: 'no fetch' };
    const p = fetchImpl(url, {
      method: 'POST',
      keepalive: true,
      headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${token}` },
      body,
    });
    p?.catch?.(() => {}); // the page is going away: nobody is left to hear about it
    return { sent: true, reason: null };
  } catch (err) {
    return { sent: false, reason: String(err?.message ?? err) };
  }
}
