// How a participant's study ends on the page (docs/participants.md).
//
// The page reports an outcome (`study_outcome` on the `/` socket) or the server decides one
// (`study_end`); either way the page then shows what the SERVER answered: what happened, what
// to do next, the completion code with a copy button, and the redirect. Codes only ever come
// from the server at that moment, never with the page (a code in the page source could be
// copied without taking part). The first outcome is final: later reports change nothing.
//
// Pure logic over injected pieces (emit, ui, timers, navigate), tested in node.

/** Outcomes a page may report (the server refuses the others): */
export const CLIENT_OUTCOMES = Object.freeze(['partner_left', 'connection_failed', 'excluded', 'error']);

/** The text for a report the server could not take (no code: the server decides codes). */
function unsavedPage(subjectId, message) {
  return {
    subject_id: subjectId,
    outcome: null,
    reason: null,
    title: 'Your result could not be saved',
    message: `The study server did not accept the result (${message}).`,
    detail: null,
    next: 'Please contact the researcher and mention your participant id.',
    code: null,
    redirect_url: null,
    redirect_delay_s: null,
    recorded_at: null,
  };
}

/**
 * @param {object} o
 * @param {Function} o.emit       (event, payload, ack) on the `/` socket
 * @param {object} o.ui           ui.outcome(view) (client_ui.js)
 * @param {object} o.diag         window.p2p: gets `outcome`
 * @param {Function} o.navigate   (url) -> void
 * @param {object} o.timers       {setTimeout, clearTimeout}
 * @param {Function} [o.onShown]  (page) -> void, after the page is shown (the flow sets its phase)
 * @param {Function} [o.subjectId]  () -> the participant id shown on the page
 */
export function createOutcomes(o) {
  const { ui, diag, timers } = o;
  let shown = null;
  let pending = null;
  let redirectTimer = null;

  function view(page, keepScene) {
    return {
      keepScene,
      title: page.title ?? '',
      message: page.message ?? '',
      detail: page.detail ?? null,
      next: page.next ?? '',
      code: page.code ?? null,
      redirectUrl: page.redirect_url ?? null,
      subjectId: page.subject_id ?? o.subjectId?.() ?? null,
      onRedirect: page.redirect_url ? () => o.navigate(page.redirect_url) : null,
    };
  }

  /** Show the server's outcome page (idempotent; a later, different page replaces it only
   * when the server says so, which it never does after a final outcome). */
  function show(page, { keepScene = false } = {}) {
    if (!page || typeof page !== 'object') return;
    if (shown && shown.recorded_at === page.recorded_at && shown.outcome === page.outcome) return;
    shown = page;
    diag.outcome = {
      outcome: page.outcome, reason: page.reason, code: page.code ?? null,
      redirect_url: page.redirect_url ?? null, recorded_at: page.recorded_at ?? null,
    };
    ui.outcome(view(page, keepScene));
    if (redirectTimer !== null) timers.clearTimeout(redirectTimer);
    redirectTimer = null;
    if (page.redirect_url) {
      const delayMs = Math.max(0, Number(page.redirect_delay_s ?? 0)) * 1000;
      redirectTimer = timers.setTimeout(() => o.navigate(page.redirect_url), delayMs);
    }
    o.onShown?.(page);
  }

  /**
   * Report how the study ends for this participant; resolves with the page the server
   * answered (the outcome that stands, maybe an earlier one) and shows it.
   * @param {string} outcome  one of CLIENT_OUTCOMES
   * @param {{reason?: string|null, detail?: string|null, gameId?: string|null}} [opts]
   */
  function report(outcome, { reason = null, detail = null, gameId = null } = {}) {
    if (shown) return Promise.resolve(shown);
    if (pending) return pending;
    pending = new Promise((resolve) => {
      const payload = { outcome, reason, detail: detail === null ? null : String(detail).slice(0, 1000), game_id: gameId };
      // Socket.IO buffers the emit while disconnected: the ack comes once the server has it.
      o.emit('study_outcome', payload, (ack) => {
        if (ack && ack.ok && ack.page) {
          show(ack.page);
          resolve(ack.page);
          return;
        }
        const page = unsavedPage(o.subjectId?.() ?? null, ack?.error?.message ?? 'no answer');
        show(page);
        resolve(page);
      });
    });
    return pending;
  }

  return {
    report,
    show,
    get shown() { return shown; },
    get reporting() { return pending !== null && shown === null; },
  };
}
