// The participant page's screens over templates/participant.html's elements. The flow
// (client_flow.js) calls these; nothing here knows about sockets or games.

/**
 * @param {Document} doc
 * @param {Window} [win]
 */
export function createDomUi(doc, win = doc.defaultView) {
  const $ = (id) => doc.getElementById(id);
  const header = $('sceneHeader');
  const subheader = $('sceneSubHeader');
  const body = $('sceneBody');
  const waitroom = $('waitroom');
  const waitroomText = $('waitroomText');
  const game = $('gameContainer');
  const statusText = $('statusText');
  const errorText = $('errorText');
  const noticeText = $('noticeText');
  const button = $('advanceButton');
  const outcome = {
    panel: $('outcomePanel'), message: $('outcomeMessage'), detail: $('outcomeDetail'),
    codeBox: $('outcomeCodeBox'), code: $('outcomeCode'), copy: $('outcomeCopy'), copied: $('outcomeCopied'),
    next: $('outcomeNext'), redirect: $('outcomeRedirect'), subject: $('outcomeSubject'),
  };
  let onRedirect = null;
  let onClick = null;
  let hud = null;
  let canvas = null;
  let countdown = null;
  const title = doc.title;

  button.addEventListener('click', () => onClick?.());
  outcome.redirect?.addEventListener('click', () => onRedirect?.());
  outcome.copy?.addEventListener('click', () => {
    copyText(doc, win, outcome.code).then((ok) => {
      outcome.copied.textContent = ok ? 'Copied.' : 'Select the code and copy it (Ctrl+C / Cmd+C).';
    });
  });
  button.classList.add('p2p-button');
  statusText.classList.add('p2p-banner');
  errorText.classList.add('p2p-banner', 'p2p-error');
  noticeText?.classList.add('p2p-banner', 'p2p-notice');

  return {
    keyboardTarget: win,
    setPhase(phase) {
      doc.body.dataset.phase = phase;
    },
    showScene({ header: h, subheader: sh, body: b }) {
      header.textContent = h ?? '';
      subheader.textContent = sh ?? '';
      // Scene bodies are the researcher's HTML (as in Interactive Gym), not participant input.
      body.innerHTML = b ?? '';
    },
    waitroom(text) {
      waitroom.hidden = text === null;
      waitroomText.textContent = text ?? '';
    },
    status(text) {
      statusText.textContent = text ?? '';
    },
    /** A banner that must not be missed (reconnecting, came back after being away); null hides it. */
    notice(text) {
      if (!noticeText) return;
      noticeText.hidden = text === null || text === '';
      noticeText.textContent = text ?? '';
    },
    /** Big text over the canvas (the 3-2-1 countdown); null hides it. */
    countdown(text) {
      if (!countdown) return;
      countdown.hidden = text === null;
      countdown.textContent = text ?? '';
    },
    /** The tab title while the page is in the background (null: the page's own title). */
    attention(text) {
      doc.title = text === null ? title : `${text} - ${title}`;
    },
    /** The page's visibility (document.visibilityState), and its changes. */
    visibility: {
      hidden: () => doc.visibilityState === 'hidden',
      onChange(fn) {
        doc.addEventListener('visibilitychange', () => fn(doc.visibilityState === 'hidden'));
      },
    },

    error(text) {
      errorText.hidden = text === null || text === '';
      errorText.textContent = text ?? '';
    },
    /** {label, onClick} shows the Continue button; null hides it. */
    advance(opts) {
      if (!opts) {
        button.hidden = true;
        onClick = null;
        return;
      }
      button.textContent = opts.label ?? 'Continue';
      onClick = opts.onClick;
      button.disabled = false;
      button.hidden = false;
    },
    game(visible) {
      game.hidden = !visible;
      if (visible) canvas?.focus?.();
    },
    createCanvas(width, height) {
      game.replaceChildren();
      game.classList.add('p2p-game');
      canvas = doc.createElement('canvas');
      canvas.id = 'gameCanvas';
      canvas.width = width;
      canvas.height = height;
      canvas.tabIndex = 0;
      hud = doc.createElement('div');
      hud.className = 'p2p-hud';
      hud.id = 'gameHud';
      // The countdown sits over the canvas (a wrapper gives it the canvas's box).
      const stage = doc.createElement('div');
      stage.className = 'p2p-stage';
      countdown = doc.createElement('div');
      countdown.className = 'p2p-countdown';
      countdown.id = 'gameCountdown';
      countdown.hidden = true;
      countdown.setAttribute('aria-live', 'assertive');
      stage.append(canvas, countdown);
      game.append(stage, hud);
      return canvas.getContext('2d');
    },
    hud(lines) {
      if (!hud) return;
      hud.replaceChildren(...lines.map((line) => {
        const span = doc.createElement('span');
        span.textContent = line;
        return span;
      }));
    },
    /**
     * The outcome page (client_outcome.js): {keepScene, title, message, detail, next, code,
     * redirectUrl, subjectId, onRedirect}; null hides it. Hides the game, waiting room and
     * Continue: the study is over for this participant.
     */
    outcome(v) {
      if (!outcome.panel) return;
      if (!v) {
        outcome.panel.hidden = true;
        return;
      }
      game.hidden = true;
      waitroom.hidden = true;
      button.hidden = true;
      onClick = null;
      errorText.hidden = true;
      statusText.textContent = '';
      if (!v.keepScene) {
        header.textContent = v.title ?? '';
        subheader.textContent = '';
        body.replaceChildren();
      }
      outcome.message.textContent = v.keepScene ? '' : v.message ?? '';
      outcome.message.hidden = v.keepScene;
      outcome.detail.textContent = v.detail ?? '';
      outcome.detail.hidden = !v.detail;
      outcome.code.textContent = v.code ?? '';
      outcome.codeBox.hidden = !v.code;
      outcome.copied.textContent = '';
      outcome.next.textContent = v.next ?? '';
      onRedirect = v.onRedirect ?? null;
      outcome.redirect.hidden = !v.redirectUrl;
      outcome.subject.textContent = v.subjectId ? `Your participant id: ${v.subjectId}` : '';
      outcome.panel.hidden = false;
    },
    /** Values of the scene's input elements by id (static scenes' element_ids). */
    collect(ids) {
      const out = {};
      for (const id of ids) {
        const el = $(id);
        if (!el) continue;
        out[id] = el.type === 'checkbox' || el.type === 'radio' ? el.checked : el.value ?? el.textContent;
      }
      return out;
    },
  };
}

/** Copy the code element's text: the Clipboard API where allowed (https, localhost), else a
 * selection and execCommand (plain-http LAN pages). Resolves true when copied. */
async function copyText(doc, win, element) {
  const text = element.textContent ?? '';
  try {
    if (win.navigator?.clipboard?.writeText && win.isSecureContext) {
      await win.navigator.clipboard.writeText(text);
      return true;
    }
  } catch { /* fall through to the selection */ }
  try {
    const range = doc.createRange();
    range.selectNodeContents(element);
    const selection = win.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
    return doc.execCommand('copy');
  } catch {
    return false;
  }
}
