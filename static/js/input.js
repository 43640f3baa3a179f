// Keyboard -> action through the scene's Interactive Gym action mapping.
//
// The mapping is GymScene.action_mapping as the server sends it: key names (KeyboardEvent.key,
// e.g. "ArrowUp", "w") to integer actions, with composite keys already joined the way
// Interactive Gym stores them: the key names sorted and joined by "," ("ArrowLeft,ArrowUp").
//
// Input modes (Interactive Gym's names):
//  - 'pressed_keys': the action is a function of the keys held right now. All held keys
//    together if that combination is mapped, else the most recently pressed key that is
//    mapped on its own, else the default action.
//  - 'single_keystroke': each key press yields its action for exactly one frame (presses
//    queue up, one per frame), the default action otherwise.

/**
 * @param {object} opts
 * @param {Object<string, number>} opts.actionMapping
 * @param {number} [opts.defaultAction=0]
 * @param {'pressed_keys'|'single_keystroke'} [opts.inputMode='pressed_keys']
 * @param {{keyDown(key:string, t:number):void, keyUp(key:string):void}} [opts.timing]
 *   input_timing.js: told of every mapped, non-repeat keydown (with KeyboardEvent.timeStamp)
 *   and keyup, for the key-to-screen latency
 * @param {(key: string, down: boolean, timeStamp: number) => void} [opts.onKey]  every press
 *        and release of a key the mapping uses (auto-repeat excluded), with the event's own
 *        time (KeyboardEvent.timeStamp, the performance.now() time base): the input log's feed
 */
export function createKeyboardInput(opts) {
  const { actionMapping, defaultAction = 0, inputMode = 'pressed_keys', timing = null, onKey = null } = opts ?? {};
  if (!actionMapping || typeof actionMapping !== 'object') {
    throw new TypeError('createKeyboardInput: actionMapping (key name -> action) is required');
  }
  if (inputMode !== 'pressed_keys' && inputMode !== 'single_keystroke') {
    throw new RangeError(`createKeyboardInput: unknown input mode ${inputMode}`);
  }
  const mapping = new Map();
  for (const [key, action] of Object.entries(actionMapping)) {
    if (!Number.isInteger(action) || action < -(2 ** 31) || action >= 2 ** 31) {
      throw new TypeError(`createKeyboardInput: action for ${key} must be a signed 32-bit integer`);
    }
    mapping.set(normalizeCombo(key), action);
  }
  if (!Number.isInteger(defaultAction)) {
    throw new TypeError('createKeyboardInput: defaultAction must be an integer');
  }

  const held = []; // key names, oldest press first
  const queue = []; // single_keystroke presses not yet consumed
  let attachedTo = null;
  let consumed = false; // the last sample() took a queued single_keystroke press

  function lookup(keys) {
    return mapping.get(keys.length === 1 ? keys[0] : [...keys].sort().join(','));
  }

  function mappedKey(key) {
    // "W" with shift or caps lock still means "w" when only "w" is mapped.
    if (mapping.has(key)) return key;
    const lower = key.length === 1 ? key.toLowerCase() : key;
    return mapping.has(lower) ? lower : key;
  }

  const api = {
    /** Feed a key press (KeyboardEvent.key). Returns true if the key is mapped. */
    keyDown(rawKey) {
      const key = mappedKey(rawKey);
      if (!held.includes(key)) held.push(key);
      if (inputMode === 'single_keystroke' && mapping.has(key)) queue.push(mapping.get(key));
      return mapping.has(key) || [...mapping.keys()].some((k) => k.split(',').includes(key));
    },
    keyUp(rawKey) {
      const key = mappedKey(rawKey);
      const i = held.indexOf(key);
      if (i >= 0) held.splice(i, 1);
    },
    /** Forget every held key (the window lost focus, so key-ups would be missed). */
    releaseAll() {
      held.length = 0;
    },
    /** The action for the frame being sampled now. */
    sample() {
      consumed = false;
      if (inputMode === 'single_keystroke') {
        if (queue.length === 0) return defaultAction;
        consumed = true;
        return queue.shift();
      }
      if (held.length === 0) return defaultAction;
      const combo = lookup(held);
      if (combo !== undefined) return combo;
      for (let i = held.length - 1; i >= 0; i--) {
        const a = mapping.get(held[i]);
        if (a !== undefined) return a;
      }
      return defaultAction;
    },
    get heldKeys() {
      return [...held];
    },
    /** Whether the last sample() took a queued press (single_keystroke mode). */
    get consumedPress() {
      return consumed;
    },
    /** Listen on a window/element for keydown, keyup and blur. */
    attach(target) {
      api.detach();
      attachedTo = target;
      target.addEventListener('keydown', onKeyDown);
      target.addEventListener('keyup', onKeyUp);
      target.addEventListener('blur', onBlur);
    },
    detach() {
      if (!attachedTo) return;
      attachedTo.removeEventListener('keydown', onKeyDown);
      attachedTo.removeEventListener('keyup', onKeyUp);
      attachedTo.removeEventListener('blur', onBlur);
      attachedTo = null;
    },
  };

  function onKeyDown(ev) {
    if (ev.repeat) {
      if (mapping.has(mappedKey(ev.key))) ev.preventDefault?.();
      return;
    }
    // Mapped keys must not scroll the page (arrow keys, space).
    if (api.keyDown(ev.key)) {
      ev.preventDefault?.();
      const key = mappedKey(ev.key);
      if (timing && mapping.has(key)) timing.keyDown(key, typeof ev.timeStamp === 'number' ? ev.timeStamp : globalThis.performance?.now?.() ?? 0);
      report(ev, true);
    }
  }
  function onKeyUp(ev) {
    const wasHeld = api.heldKeys.includes(mappedKey(ev.key));
    api.keyUp(ev.key);
    timing?.keyUp(mappedKey(ev.key));
    if (wasHeld && usesKey(mappedKey(ev.key))) report(ev, false);
  }
  function usesKey(key) {
    return mapping.has(key) || [...mapping.keys()].some((k) => k.split(',').includes(key));
  }
  function report(ev, down) {
    if (onKey === null) return;
    try {
      onKey(mappedKey(ev.key), down, typeof ev.timeStamp === 'number' ? ev.timeStamp : NaN);
    } catch { /* the log's problem, never the game's */ }
  }
  function onBlur() {
    api.releaseAll();
  }

  return api;
}

// "ArrowUp, ArrowLeft" / ("ArrowUp","ArrowLeft") stored any way -> "ArrowLeft,ArrowUp".
function normalizeCombo(key) {
  const parts = String(key).split(',').map((s) => s.trim()).filter((s) => s.length > 0);
  return parts.length > 1 ? parts.sort().join(',') : String(key);
}
