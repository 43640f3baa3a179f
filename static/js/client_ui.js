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
  const button = $('advanceButton');
  let onClick = null;
  let hud = null;
  let canvas = null;

  button.addEventListener('click', () => onClick?.());
  button.classList.add('p2p-button');
  statusText.classList.add('p2p-banner');
  errorText.classList.add('p2p-banner', 'p2p-error');

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
      game.append(canvas, hud);
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
