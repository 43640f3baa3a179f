// Canvas 2D renderer for Interactive Gym object contexts (the list of dicts an env's
// render() returns: sprite, circle, rectangle, line, polygon, text), plus a small HUD.
//
// Semantics follow Interactive Gym's own renderer: positions are fractions of the scene's
// width/height when location_representation is 'relative' (pixels otherwise); radii, line
// widths, sprite/rectangle sizes and font sizes are pixels; sprites and text are anchored
// at their top-left corner; higher depth draws on top; `permanent` objects stay on screen
// in later frames until an object with the same uuid replaces them.
//
// The payload comes from the environment, so nothing here throws on bad input: an object
// it cannot draw is skipped and counted (a bad object must not stop the game loop).

const DRAWABLE = new Set(['sprite', 'circle', 'rectangle', 'line', 'polygon', 'text']);

/**
 * @param {CanvasRenderingContext2D} ctx
 * @param {object} opts
 * @param {number} [opts.width=600]  scene width in CSS pixels
 * @param {number} [opts.height=400] scene height
 * @param {string} [opts.background='#FFFFFF'] a CSS colour, or the name of a loaded image
 * @param {'relative'|'pixels'} [opts.locationRepresentation='relative']
 * @param {Map<string, {image: CanvasImageSource, frames?: object}>|object} [opts.images]
 *        textures by name; `frames` maps a frame name/index to {x, y, w, h} in the image
 * @param {number} [opts.pixelRatio=1] device pixels per CSS pixel (the canvas backing size)
 */
export function createRenderer(ctx, opts = {}) {
  const width = opts.width ?? 600;
  const height = opts.height ?? 400;
  const background = opts.background ?? '#FFFFFF';
  const relative = (opts.locationRepresentation ?? 'relative') === 'relative';
  const pixelRatio = opts.pixelRatio ?? 1;
  const images = opts.images instanceof Map ? opts.images : new Map(Object.entries(opts.images ?? {}));
  if (!(width > 0 && height > 0)) throw new RangeError('renderer: width and height must be > 0');
  if (!relative && opts.locationRepresentation !== 'pixels') {
    throw new RangeError(`renderer: locationRepresentation must be 'relative' or 'pixels'`);
  }

  const permanent = new Map(); // uuid -> object context, kept across frames
  let hud = null;
  const stats = { frames: 0, drawn: 0, skipped: 0, lastSkipReason: null };

  const px = (x) => (relative ? x * width : x);
  const py = (y) => (relative ? y * height : y);

  function skip(reason) {
    stats.skipped++;
    stats.lastSkipReason = reason;
  }

  function drawBackground() {
    const bg = images.get(background);
    if (bg?.image) {
      ctx.drawImage(bg.image, 0, 0, width, height);
    } else {
      ctx.fillStyle = background;
      ctx.fillRect(0, 0, width, height);
    }
  }

  function points(obj) {
    if (!Array.isArray(obj.points) || obj.points.length === 0) return null;
    const out = [];
    for (const p of obj.points) {
      if (!Array.isArray(p) || !Number.isFinite(p[0]) || !Number.isFinite(p[1])) return null;
      out.push([px(p[0]), py(p[1])]);
    }
    return out;
  }

  function alphaOf(obj) {
    return Number.isFinite(obj.alpha) ? Math.min(1, Math.max(0, obj.alpha)) : 1;
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
    ctx.fillText(String(o.text), px(o.x), py(o.y));
    stats.drawn++;
  }

  function drawSprite(o) {
    if (!finite(o.x, o.y, o.width, o.height)) return skip(`sprite ${o.uuid}: bad geometry`);
    const tex = images.get(o.image_name);
    if (!tex?.image) return skip(`sprite ${o.uuid}: texture ${o.image_name} not loaded`);
    const x = px(o.x);
    const y = py(o.y);
    ctx.globalAlpha = 1;
    ctx.save();
    ctx.translate(x, y);
    // Rotation about the top-left anchor, in degrees (as Interactive Gym's `angle`).
    if (Number.isFinite(o.angle) && o.angle !== 0) ctx.rotate((o.angle * Math.PI) / 180);
    const frame = o.frame !== null && o.frame !== undefined ? tex.frames?.[o.frame] : undefined;
    if (frame) {
      ctx.drawImage(tex.image, frame.x, frame.y, frame.w, frame.h, 0, 0, o.width, o.height);
    } else {
      ctx.drawImage(tex.image, 0, 0, o.width, o.height);
    }
    ctx.restore();
    stats.drawn++;
  }

  const DRAW = {
    sprite: drawSprite, circle: drawCircle, rectangle: drawRectangle,
    line: drawLine, polygon: drawPolygon, text: drawText,
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

  return {
    width,
    height,
    stats,
    /**
     * Draw one frame. `payload` is env.render()'s list, or {game_state_objects: list}.
     * Returns {drawn, skipped} for this frame.
     */
    draw(payload) {
      const before = { drawn: stats.drawn, skipped: stats.skipped };
      const list = Array.isArray(payload) ? payload
        : Array.isArray(payload?.game_state_objects) ? payload.game_state_objects : [];
      const current = [];
      for (const obj of list) {
        if (obj === null || typeof obj !== 'object') { skip('not an object'); continue; }
        if (!DRAWABLE.has(obj.object_type)) { skip(`unknown object_type ${obj.object_type}`); continue; }
        if (obj.permanent === true && typeof obj.uuid === 'string') {
          permanent.set(obj.uuid, obj);
        } else {
          permanent.delete(obj.uuid); // replaced by a non-permanent object of the same uuid
          current.push(obj);
        }
      }
      // Stable order: depth ascending, then permanent objects before this frame's, then
      // the order the env listed them.
      const all = [...permanent.values(), ...current]
        .map((o, i) => ({ o, i, d: Number.isFinite(o.depth) ? o.depth : 0 }));
      all.sort((a, b) => a.d - b.d || a.i - b.i);

      ctx.save();
      ctx.setTransform(pixelRatio, 0, 0, pixelRatio, 0, 0);
      ctx.globalAlpha = 1;
      drawBackground();
      for (const { o } of all) DRAW[o.object_type](o);
      drawHud();
      ctx.restore();
      stats.frames++;
      return { drawn: stats.drawn - before.drawn, skipped: stats.skipped - before.skipped };
    },
    /** HUD values shown in the corner from now on; null hides it. */
    setHud(values) {
      hud = values;
    },
    /** Forget permanent objects (a new episode or scene). */
    clear() {
      permanent.clear();
    },
  };
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
