// Canvas 2D renderer for Interactive Gym object contexts: what an env's render() returns, a
// list of sprite, circle, line, polygon, text (and rectangle, rendered_env_rgb) dicts, or a
// whole RGB frame. Render-only: nothing here feeds back into the simulation.
//
// Semantics follow Interactive Gym's Phaser renderer (docs/client.md, "Renderer"):
//  - positions are fractions of the scene's width/height ('relative') or pixels; sprites sit at
//    the floor of that pixel, anchored top-left, sized width x height, rotated by `angle`
//    degrees about that corner; radii, line widths and font sizes are pixels;
//  - an object is created the first time its uuid is listed and updated whenever it is listed
//    again; a temporary object not listed in a frame is removed; a `permanent` one stays until
//    clear() (a new episode);
//  - higher depth draws on top; equal depths draw in creation order (Phaser's display list);
//  - a sprite with `tween` glides from where it is shown to its new position over
//    tween_duration ms (linear); the glide lives here only, so rollback never sees it.
// Where Interactive Gym's code ignores a field its object context documents (text colour and
// depth, a sprite's later depth, rectangles, line updates), this renderer uses the field.
//
// The payload comes from the environment, so nothing here throws on bad input: an object it
// cannot draw is skipped and counted (a bad object must not stop the game loop).

import { frameOf, toTexture } from './textures.js';

const KINDS = new Set(['sprite', 'circle', 'rectangle', 'line', 'polygon', 'text', 'rendered_env_rgb']);

/**
 * @param {CanvasRenderingContext2D} ctx
 * @param {object} opts
 * @param {number} [opts.width=600]  scene width in CSS pixels
 * @param {number} [opts.height=400] scene height
 * @param {string} [opts.background='#FFFFFF'] a CSS colour, or the name of a loaded image (drawn centred)
 * @param {'relative'|'pixels'} [opts.locationRepresentation='relative']
 * @param {Map<string, object>|object} [opts.textures]  name -> texture (textures.js; assets.js loads them);
 *        `images` is the same option under its old name ({image, frames?} entries work too)
 * @param {number} [opts.pixelRatio=1] device pixels per CSS pixel (the canvas backing size)
 * @param {() => number} [opts.now]   ms clock for tweens (default performance.now)
 * @param {(w: number, h: number) => object} [opts.makeCanvas]  offscreen canvas for RGB frames
 */
export function createRenderer(ctx, opts = {}) {
  const width = opts.width ?? 600;
  const height = opts.height ?? 400;
  const background = opts.background ?? '#FFFFFF';
  const relative = (opts.locationRepresentation ?? 'relative') === 'relative';
  const pixelRatio = opts.pixelRatio ?? 1;
  const now = opts.now ?? (() => globalThis.performance.now());
  const makeCanvas = opts.makeCanvas ?? defaultMakeCanvas;
  if (!(width > 0 && height > 0)) throw new RangeError('renderer: width and height must be > 0');
  if (!relative && opts.locationRepresentation !== 'pixels') {
    throw new RangeError(`renderer: locationRepresentation must be 'relative' or 'pixels'`);
  }
  const textures = new Map();
  const given = opts.textures ?? opts.images ?? {};
  for (const [name, t] of given instanceof Map ? given : Object.entries(given)) {
    const tex = toTexture(name, t);
    if (tex) textures.set(name, tex);
  }

  const live = new Map(); // uuid -> {o, seq, permanent, x, y, tween, rgb}
  let created = 0;
  let frameImage = null; // a whole RGB frame (the env rendered an image, not objects)
  let drewMidTween = false; // the last render showed a sprite part-way: one more render is due
  let hud = null;
  const stats = { frames: 0, drawn: 0, skipped: 0, lastSkipReason: null };

  const px = (x) => (relative ? x * width : x);
  const py = (y) => (relative ? y * height : y);

  function skip(reason) {
    stats.skipped++;
    stats.lastSkipReason = reason;
  }

  // ---------------------------------------------------------------- update (a new frame's list)

  function update(payload) {
    const rgb = rgbImage(payload);
    if (rgb) {
      frameImage = rgb === 'bad' ? null : toCanvas(rgb);
      if (rgb === 'bad') skip('RGB frame: bad pixels');
      return;
    }
    frameImage = null;
    const list = Array.isArray(payload) ? payload
      : Array.isArray(payload?.game_state_objects) ? payload.game_state_objects : [];
    const listed = new Set();
    const t = now();
    list.forEach((o, index) => {
      if (o === null || typeof o !== 'object') return skip('not an object');
      if (!KINDS.has(o.object_type)) return skip(`unknown object_type ${o.object_type}`);
      // Every object context has a uuid; without one an object is known by its place in the list.
      const uuid = typeof o.uuid === 'string' || Number.isFinite(o.uuid) ? String(o.uuid) : `#${index}:${o.object_type}`;
      listed.add(uuid);
      let node = live.get(uuid);
      if (!node || node.o.object_type !== o.object_type) {
        node = { o, seq: created++, permanent: false, x: NaN, y: NaN, tween: null, rgb: null };
        live.set(uuid, node);
      }
      node.o = o;
      node.permanent = o.permanent === true;
      if (o.object_type === 'sprite') placeSprite(node, o, t);
      else if (o.object_type === 'rendered_env_rgb') {
        const img = rgbImage(o.game_image);
        node.rgb = img && img !== 'bad' ? toCanvas(img) : null;
      }
      return undefined;
    });
    for (const [uuid, node] of live) if (!node.permanent && !listed.has(uuid)) live.delete(uuid);
  }

  function placeSprite(node, o, t) {
    if (!finite(o.x, o.y)) return;
    const x = Math.floor(px(o.x));
    const y = Math.floor(py(o.y));
    if (Number.isNaN(node.x)) { // just created: shown where it is
      node.x = x;
      node.y = y;
      return;
    }
    const shown = position(node, t);
    const target = node.tween ? [node.tween.toX, node.tween.toY] : [node.x, node.y];
    if (target[0] === x && target[1] === y) return;
    const duration = Number.isFinite(o.tween_duration) ? o.tween_duration : 50;
    if (o.tween === true && duration > 0) {
      // A new target while gliding starts a new glide from where the sprite is now (Interactive
      // Gym drops it until the glide ends, which can leave a sprite short of the latest state).
      node.tween = { fromX: shown[0], fromY: shown[1], toX: x, toY: y, start: t, duration };
    } else {
      node.tween = null;
    }
    node.x = x;
    node.y = y;
  }

  function position(node, t) {
    const tw = node.tween;
    if (!tw) return [node.x, node.y];
    const k = (t - tw.start) / tw.duration;
    if (k >= 1) {
      node.tween = null;
      return [tw.toX, tw.toY];
    }
    const f = Math.max(0, k);
    return [tw.fromX + (tw.toX - tw.fromX) * f, tw.fromY + (tw.toY - tw.fromY) * f];
  }

  // ---------------------------------------------------------------- drawing

  function drawBackground() {
    const bg = textures.get(background);
    if (bg) {
      // Phaser's camera is black where the centred background image does not reach.
      ctx.fillStyle = '#000000';
      ctx.fillRect(0, 0, width, height);
      const f = bg.base;
      ctx.drawImage(f.image, f.x, f.y, f.w, f.h, Math.floor((width - f.w) / 2), Math.floor((height - f.h) / 2), f.w, f.h);
    } else {
      ctx.fillStyle = '#FFFFFF'; // an invalid colour leaves fillStyle as it was: start from white
      ctx.fillStyle = background;
      ctx.fillRect(0, 0, width, height);
    }
  }

  function points(o) {
    if (!Array.isArray(o.points) || o.points.length === 0) return null;
    const out = [];
    for (const p of o.points) {
      if (!Array.isArray(p) || !Number.isFinite(p[0]) || !Number.isFinite(p[1])) return null;
      out.push([px(p[0]), py(p[1])]);
    }
    return out;
  }

  function alphaOf(o) {
    return Number.isFinite(o.alpha) ? Math.min(1, Math.max(0, o.alpha)) : 1;
  }

  function drawCircle(o) {
    if (!finite(o.x, o.y, o.radius) || o.radius < 0) return skip(`circle ${o.uuid}: bad geometry`);
    ctx.globalAlpha = alphaOf(o);
    ctx.fillStyle = o.color ?? '#000000';
    ctx.beginPath();
    ctx.arc(px(o.x), py(o.y), o.radius, 0, Math.PI * 2);
    ctx.fill();
    stats.drawn++;
  }

  function drawRectangle(o) {
    if (!finite(o.x, o.y, o.width, o.height)) return skip(`rectangle ${o.uuid}: bad geometry`);
    ctx.globalAlpha = alphaOf(o);
    ctx.fillStyle = o.color ?? '#000000';
    ctx.fillRect(px(o.x), py(o.y), o.width, o.height);
    stats.drawn++;
  }

  function drawLine(o) {
    const pts = points(o);
    if (!pts || !Number.isFinite(o.width)) return skip(`line ${o.uuid}: bad points`);
    ctx.globalAlpha = 1;
    ctx.strokeStyle = o.color ?? '#000000';
    ctx.lineWidth = o.width;
    ctx.beginPath();
    ctx.moveTo(pts[0][0], pts[0][1]);
    for (let i = 1; i < pts.length; i++) ctx.lineTo(pts[i][0], pts[i][1]);
    ctx.stroke();
    // fill_below / fill_above: the area between the line and the bottom / top edge.
    for (const [flag, edgeY] of [[o.fill_below, height], [o.fill_above, 0]]) {
      if (flag !== true) continue;
      ctx.fillStyle = o.color ?? '#000000';
      ctx.beginPath();
      ctx.moveTo(pts[0][0], pts[0][1]);
      for (let i = 1; i < pts.length; i++) ctx.lineTo(pts[i][0], pts[i][1]);
      ctx.lineTo(pts[pts.length - 1][0], edgeY);
      ctx.lineTo(pts[0][0], edgeY);
      ctx.closePath();
      ctx.fill();
    }
    stats.drawn++;
  }

  function drawPolygon(o) {
    const pts = points(o);
    if (!pts || pts.length < 3) return skip(`polygon ${o.uuid}: needs 3+ points`);
    ctx.globalAlpha = alphaOf(o);
    ctx.fillStyle = o.color ?? '#000000';
    ctx.beginPath();
    ctx.moveTo(pts[0][0], pts[0][1]);
    for (let i = 1; i < pts.length; i++) ctx.lineTo(pts[i][0], pts[i][1]);
    ctx.closePath();
    ctx.fill();
    stats.drawn++;
  }

  function drawText(o) {
    if (!finite(o.x, o.y) || o.text === undefined || o.text === null) {
      return skip(`text ${o.uuid}: bad position or text`);
    }
    const size = Number.isFinite(o.size) && o.size > 0 ? o.size : 16;
    ctx.globalAlpha = 1;
    ctx.fillStyle = o.color ?? '#000000';
    ctx.font = `${size}px ${o.font ?? 'Arial'}`;
    ctx.textBaseline = 'top';
    ctx.textAlign = 'left';
    const lines = String(o.text).split('\n');
    lines.forEach((line, i) => ctx.fillText(line, px(o.x), py(o.y) + i * Math.round(size * 1.2)));
    stats.drawn++;
  }

  function drawSprite(o, node, t) {
    if (!finite(o.x, o.y, o.width, o.height)) return skip(`sprite ${o.uuid}: bad geometry`);
    if (o.image_name === null || o.image_name === undefined) return undefined; // a blank sprite, as in Phaser
    const tex = textures.get(o.image_name);
    if (!tex) return skip(`sprite ${o.uuid}: texture ${o.image_name} not loaded`);
    const f = frameOf(tex, o.frame);
    if (!f) return skip(`sprite ${o.uuid}: texture ${o.image_name} has no frame ${JSON.stringify(o.frame)}`);
    const [x, y] = position(node, t);
    if (node.tween) drewMidTween = true;
    ctx.globalAlpha = 1;
    ctx.save();
    ctx.translate(x, y);
    if (Number.isFinite(o.angle) && o.angle !== 0) ctx.rotate((o.angle * Math.PI) / 180);
    // width x height is the size of the whole (untrimmed) source frame.
    const sx = o.width / f.srcW;
    const sy = o.height / f.srcH;
    ctx.drawImage(f.image, f.x, f.y, f.w, f.h, f.offX * sx, f.offY * sy, f.w * sx, f.h * sy);
    ctx.restore();
    stats.drawn++;
    return undefined;
  }

  function drawRgbObject(o, node) {
    if (!node.rgb) return skip(`rendered_env_rgb ${o.name ?? o.uuid}: bad pixels`);
    ctx.globalAlpha = 1;
    ctx.drawImage(node.rgb, 0, 0);
    stats.drawn++;
    return undefined;
  }

  const DRAW = {
    sprite: drawSprite, circle: drawCircle, rectangle: drawRectangle,
    line: drawLine, polygon: drawPolygon, text: drawText, rendered_env_rgb: drawRgbObject,
  };

  function drawHud() {
    const lines = formatHud(hud);
    if (lines.length === 0) return;
    const lineH = 14;
    const boxH = lines.length * lineH + 6;
    ctx.globalAlpha = 0.6;
    ctx.fillStyle = '#000000';
    ctx.fillRect(width - 170, height - boxH, 170, boxH);
    ctx.globalAlpha = 1;
    ctx.fillStyle = '#ffffff';
    ctx.font = '11px monospace';
    ctx.textBaseline = 'top';
    ctx.textAlign = 'left';
    lines.forEach((line, i) => ctx.fillText(line, width - 166, height - boxH + 3 + i * lineH));
  }

  function render() {
    const before = { drawn: stats.drawn, skipped: stats.skipped };
    const t = now();
    const order = [...live.values()];
    const depth = (n) => (n.o.object_type === 'rendered_env_rgb' && !Number.isFinite(n.o.depth) ? -Infinity
      : Number.isFinite(n.o.depth) ? n.o.depth : 0);
    order.sort((a, b) => depth(a) - depth(b) || a.seq - b.seq);
    ctx.save();
    ctx.setTransform(pixelRatio, 0, 0, pixelRatio, 0, 0);
    ctx.globalAlpha = 1;
    ctx.imageSmoothingEnabled = false; // Interactive Gym's Phaser game runs with pixelArt: true
    drewMidTween = false;
    drawBackground();
    if (frameImage) {
      ctx.drawImage(frameImage, 0, 0);
      stats.drawn++;
    }
    for (const node of order) DRAW[node.o.object_type](node.o, node, t);
    drawHud();
    ctx.restore();
    stats.frames++;
    return { drawn: stats.drawn - before.drawn, skipped: stats.skipped - before.skipped };
  }

  // True until a render has shown every glide at its end (a glide that ended after the last
  // render still needs one more, or the sprite would stay short of its position).
  function animating() {
    if (drewMidTween) return true;
    for (const node of live.values()) if (node.tween) return true;
    return false;
  }

  function toCanvas(rgb) {
    const canvas = makeCanvas(rgb.width, rgb.height);
    const c = canvas.getContext('2d');
    const data = c.createImageData(rgb.width, rgb.height);
    data.data.set(rgb.rgba);
    c.putImageData(data, 0, 0);
    return canvas;
  }

  return {
    width,
    height,
    stats,
    textures,
    /** Apply a frame (env.render()'s list, {game_state_objects}, or an RGB frame) and draw it.
     * Returns {drawn, skipped} for this frame. */
    draw(payload) {
      const before = { drawn: stats.drawn, skipped: stats.skipped };
      update(payload);
      render();
      return { drawn: stats.drawn - before.drawn, skipped: stats.skipped - before.skipped };
    },
    /** Apply a frame without drawing it. */
    update,
    /** Draw what is on screen now (tweens move on between frames). */
    render,
    /** A tween is still gliding (draw again on the next animation frame). */
    get animating() { return animating(); },
    /** HUD values shown in the corner from now on; null hides it. */
    setHud(values) {
      hud = values;
    },
    /** Forget every object, permanent ones included (a new episode or scene). */
    clear() {
      live.clear();
      frameImage = null;
    },
  };
}

/**
 * An RGB frame as {width, height, rgba: Uint8ClampedArray}: a list of rows of [r, g, b(, a)]
 * pixels (what Interactive Gym draws when render() returns an image), or the compact form the
 * Pyodide adapter sends for an array ({__p2p_rgb__: [h, w, channels], data: base64}).
 * Null when `payload` is not an image; 'bad' when it looks like one but is not valid.
 */
export function rgbImage(payload) {
  if (payload && typeof payload === 'object' && Array.isArray(payload.__p2p_rgb__)) {
    const [h, w, ch] = payload.__p2p_rgb__;
    if (!(h > 0 && w > 0 && (ch === 3 || ch === 4)) || typeof payload.data !== 'string') return 'bad';
    const bytes = base64Bytes(payload.data);
    if (bytes.length !== h * w * ch) return 'bad';
    const rgba = new Uint8ClampedArray(w * h * 4);
    for (let i = 0, j = 0; i < w * h; i++, j += ch) {
      rgba[i * 4] = bytes[j];
      rgba[i * 4 + 1] = bytes[j + 1];
      rgba[i * 4 + 2] = bytes[j + 2];
      rgba[i * 4 + 3] = ch === 4 ? bytes[j + 3] : 255;
    }
    return { width: w, height: h, rgba };
  }
  if (!Array.isArray(payload) || !Array.isArray(payload[0]) || !Array.isArray(payload[0][0])) return null;
  const h = payload.length;
  const w = payload[0].length;
  const rgba = new Uint8ClampedArray(w * h * 4);
  for (let y = 0; y < h; y++) {
    const row = payload[y];
    if (!Array.isArray(row) || row.length !== w) return 'bad';
    for (let x = 0; x < w; x++) {
      const p = row[x];
      if (!Array.isArray(p) || p.length < 3) return 'bad';
      const i = (y * w + x) * 4;
      rgba[i] = p[0];
      rgba[i + 1] = p[1];
      rgba[i + 2] = p[2];
      rgba[i + 3] = p.length > 3 ? p[3] : 255;
    }
  }
  return { width: w, height: h, rgba };
}

function base64Bytes(text) {
  const bin = globalThis.atob(text);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

function defaultMakeCanvas(w, h) {
  if (typeof globalThis.OffscreenCanvas === 'function') return new globalThis.OffscreenCanvas(w, h);
  const c = globalThis.document.createElement('canvas');
  c.width = w;
  c.height = h;
  return c;
}

/**
 * HUD lines for {pingMs, rollbacks, path:{kind, protocol, localCandidateType, ...}, extra}.
 * Separate from drawing so the page can show the same text in the DOM.
 */
export function formatHud(values) {
  if (!values) return [];
  const lines = [];
  if (values.pingMs !== undefined) {
    lines.push(`ping ${Number.isFinite(values.pingMs) ? Math.round(values.pingMs) : '-'} ms`);
  }
  if (values.rollbacks !== undefined) lines.push(`rollbacks ${values.rollbacks}`);
  if (values.path !== undefined) {
    const p = values.path;
    lines.push(p ? `path ${p.kind}${p.protocol ? `/${p.protocol}` : ''}` : 'path -');
  }
  if (typeof values.extra === 'string' && values.extra) lines.push(values.extra);
  return lines;
}

function finite(...values) {
  for (const v of values) if (!Number.isFinite(v)) return false;
  return true;
}
