// The canvas renderer against a recording fake 2D context: which calls, with which
// coordinates, in which order.
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { createRenderer, formatHud, rgbImage } from '../../static/js/renderer.js';
import { atlasTexture, spritesheetTexture } from '../../static/js/textures.js';

// Records every method call as [name, ...args] and every property write as ['set', prop, value].
function recordingContext() {
  const calls = [];
  const state = {};
  const ctx = new Proxy(state, {
    get(target, prop) {
      if (prop === 'calls') return calls;
      if (prop in target) return target[prop];
      return (...args) => { calls.push([prop, ...args]); };
    },
    set(target, prop, value) {
      target[prop] = value;
      calls.push(['set', prop, value]);
      return true;
    },
  });
  return ctx;
}

const named = (ctx, name) => ctx.calls.filter((c) => c[0] === name);
// Fill colours in order. Before a background colour the renderer sets white (an invalid colour
// leaves fillStyle as it was); that reset, a fillStyle set right before another, is left out.
const fillStyles = (ctx) => ctx.calls
  .filter((c, i, all) => c[0] === 'set' && c[1] === 'fillStyle' && !(all[i + 1]?.[0] === 'set' && all[i + 1]?.[1] === 'fillStyle'))
  .map((c) => c[2]);

test('background colour fills the scene, then objects in depth order', () => {
  const ctx = recordingContext();
  const r = createRenderer(ctx, { width: 600, height: 400, background: '#112233' });
  const res = r.draw([
    { uuid: 'top', object_type: 'circle', color: '#0000ff', x: 0.5, y: 0.5, radius: 10, depth: 5 },
    { uuid: 'bottom', object_type: 'circle', color: '#ff0000', x: 0.25, y: 0.5, radius: 20, depth: -1 },
    { uuid: 'mid', object_type: 'circle', color: '#00ff00', x: 0.75, y: 0.5, radius: 5, depth: 1 },
  ]);
  assert.deepEqual(res, { drawn: 3, skipped: 0 });
  assert.deepEqual(named(ctx, 'fillRect')[0], ['fillRect', 0, 0, 600, 400]);
  assert.deepEqual(fillStyles(ctx), ['#112233', '#ff0000', '#00ff00', '#0000ff']);
  // Relative coordinates are fractions of width/height; the radius is in pixels.
  assert.deepEqual(named(ctx, 'arc').map((c) => c.slice(1, 4)), [[150, 200, 20], [450, 200, 5], [300, 200, 10]]);
});

test('equal depths keep the order the environment listed them in', () => {
  const ctx = recordingContext();
  const r = createRenderer(ctx, { background: '#fff' });
  r.draw(['a', 'b', 'c', 'd'].map((c, i) => ({ uuid: c, object_type: 'rectangle', color: c, x: 0, y: 0, width: 1, height: 1, depth: i % 2 })));
  assert.deepEqual(fillStyles(ctx).slice(1), ['a', 'c', 'b', 'd']);
});

test("'pixels' location representation uses coordinates as given", () => {
  const ctx = recordingContext();
  const r = createRenderer(ctx, { width: 300, height: 200, locationRepresentation: 'pixels' });
  r.draw([{ uuid: 't', object_type: 'text', text: 'hi', x: 12, y: 34, size: 18, color: '#123456', font: 'Courier' }]);
  assert.deepEqual(named(ctx, 'fillText')[0], ['fillText', 'hi', 12, 34]);
  assert.ok(ctx.calls.some((c) => c[0] === 'set' && c[1] === 'font' && c[2] === '18px Courier'));
  assert.ok(ctx.calls.some((c) => c[0] === 'set' && c[1] === 'textBaseline' && c[2] === 'top'));
});

test('polygons and lines scale every point; fill_below closes to the bottom edge', () => {
  const ctx = recordingContext();
  const r = createRenderer(ctx, { width: 100, height: 50 });
  r.draw([
    { uuid: 'p', object_type: 'polygon', color: '#abc', alpha: 0.5, points: [[0, 0], [1, 0], [1, 1]], depth: 0 },
    { uuid: 'l', object_type: 'line', color: '#def', width: 3, points: [[0, 0.5], [0.5, 1]], fill_below: true, depth: 1 },
  ]);
  const moves = named(ctx, 'moveTo');
  const lines = named(ctx, 'lineTo');
  assert.deepEqual(moves[0], ['moveTo', 0, 0]);
  assert.deepEqual(lines.slice(0, 2), [['lineTo', 100, 0], ['lineTo', 100, 50]]);
  assert.equal(named(ctx, 'closePath').length, 2);
  assert.ok(ctx.calls.some((c) => c[0] === 'set' && c[1] === 'globalAlpha' && c[2] === 0.5));
  assert.ok(ctx.calls.some((c) => c[0] === 'set' && c[1] === 'lineWidth' && c[2] === 3));
  // line stroke then the fill area: ..., (50,50) -> down to the bottom edge at x=50, x=0
  assert.deepEqual(lines.slice(-3), [['lineTo', 50, 50], ['lineTo', 50, 50], ['lineTo', 0, 50]]);
  assert.equal(named(ctx, 'stroke').length, 1);
});

test('sprites draw their texture (or atlas frame) at the top-left anchor, rotated in degrees', () => {
  const ctx = recordingContext();
  const img = { tag: 'img', width: 64, height: 16 };
  const r = createRenderer(ctx, {
    width: 200, height: 100,
    images: { hero: { image: img, frames: { walk1: { x: 16, y: 0, w: 16, h: 16 } } } },
  });
  const res = r.draw([
    { uuid: 's1', object_type: 'sprite', image_name: 'hero', x: 0.5, y: 0.5, width: 32, height: 32, angle: 90 },
    { uuid: 's2', object_type: 'sprite', image_name: 'hero', frame: 'walk1', x: 0, y: 0, width: 8, height: 8 },
    { uuid: 's3', object_type: 'sprite', image_name: 'missing', x: 0, y: 0, width: 8, height: 8 },
    { uuid: 's4', object_type: 'sprite', image_name: 'hero', frame: 'run9', x: 0, y: 0, width: 8, height: 8 },
    { uuid: 's5', object_type: 'sprite', image_name: null, x: 0, y: 0, width: 8, height: 8 },
  ]);
  // s5 is a blank sprite (no texture yet), as in Phaser: neither drawn nor an error.
  assert.deepEqual(res, { drawn: 2, skipped: 2 });
  assert.deepEqual(named(ctx, 'translate')[0], ['translate', 100, 50]);
  assert.deepEqual(named(ctx, 'rotate')[0], ['rotate', Math.PI / 2]);
  const draws = named(ctx, 'drawImage');
  // No frame: the whole image, scaled to width x height.
  assert.deepEqual(draws[0], ['drawImage', img, 0, 0, 64, 16, 0, 0, 32, 32]);
  assert.deepEqual(draws[1], ['drawImage', img, 16, 0, 16, 16, 0, 0, 8, 8]);
  assert.match(r.stats.lastSkipReason, /has no frame "run9"/);
  assert.ok(ctx.calls.some((c) => c[0] === 'set' && c[1] === 'imageSmoothingEnabled' && c[2] === false), 'pixelArt');
});

test('sprite positions are floored pixels, as Interactive Gym places them', () => {
  const ctx = recordingContext();
  const r = createRenderer(ctx, { width: 100, height: 100, images: { t: { image: { width: 4, height: 4 } } } });
  r.draw([{ uuid: 's', object_type: 'sprite', image_name: 't', x: 0.123, y: 0.987, width: 4, height: 4 }]);
  assert.deepEqual(named(ctx, 'translate')[0], ['translate', 12, 98]);
});

test('atlas frames by name (trimmed ones at their offset), spritesheet frames by index, multi-atlas pages', () => {
  const sheet = { tag: 'sheet', width: 64, height: 32 };
  const page2 = { tag: 'page2', width: 16, height: 16 };
  const atlas = atlasTexture('chefs', {
    frames: {
      'up.png': { frame: { x: 0, y: 0, w: 16, h: 16 } },
      'small.png': { frame: { x: 16, y: 0, w: 8, h: 6 }, trimmed: true, spriteSourceSize: { x: 4, y: 5, w: 8, h: 6 }, sourceSize: { w: 16, h: 16 } },
    },
  }, sheet);
  const multi = atlasTexture('objs', {
    textures: [
      { image: 'a.png', frames: [{ filename: 'onion', frame: { x: 32, y: 16, w: 16, h: 16 } }] },
      { image: 'b.png', frames: [{ filename: 'dish', frame: { x: 0, y: 0, w: 16, h: 16 } }] },
    ],
  }, [sheet, page2]);
  const grid = spritesheetTexture('grid', sheet, 16, 16);
  assert.equal(grid.frames.size, 8);
  const ctx = recordingContext();
  const r = createRenderer(ctx, { width: 100, height: 100, textures: new Map([['chefs', atlas], ['objs', multi], ['grid', grid]]) });
  const res = r.draw([
    { uuid: 'a', object_type: 'sprite', image_name: 'chefs', frame: 'up.png', x: 0, y: 0, width: 32, height: 32 },
    { uuid: 'b', object_type: 'sprite', image_name: 'chefs', frame: 'small.png', x: 0, y: 0, width: 32, height: 32 },
    { uuid: 'c', object_type: 'sprite', image_name: 'objs', frame: 'dish', x: 0, y: 0, width: 16, height: 16 },
    { uuid: 'd', object_type: 'sprite', image_name: 'grid', frame: 5, x: 0, y: 0, width: 16, height: 16 },
    { uuid: 'e', object_type: 'sprite', image_name: 'objs', frame: 'onion', x: 0, y: 0, width: 16, height: 16 },
  ]);
  assert.deepEqual(res, { drawn: 5, skipped: 0 });
  const draws = named(ctx, 'drawImage');
  assert.deepEqual(draws[0], ['drawImage', sheet, 0, 0, 16, 16, 0, 0, 32, 32]);
  // Trimmed: 8x6 pixels of a 16x16 source at (4, 5), the sprite is the whole source scaled by 2.
  assert.deepEqual(draws[1], ['drawImage', sheet, 16, 0, 8, 6, 8, 10, 16, 12]);
  assert.deepEqual(draws[2], ['drawImage', page2, 0, 0, 16, 16, 0, 0, 16, 16]);
  assert.deepEqual(draws[3], ['drawImage', sheet, 16, 16, 16, 16, 0, 0, 16, 16]);
  assert.deepEqual(draws[4], ['drawImage', sheet, 32, 16, 16, 16, 0, 0, 16, 16]);
  assert.throws(() => atlasTexture('x', { frames: { r: { frame: { x: 0, y: 0, w: 1, h: 1 }, rotated: true } } }, sheet), /rotated/);
  assert.throws(() => atlasTexture('x', { meta: {} }, sheet), /no frames/);
});

test('an image background is drawn centred at its own size over black', () => {
  const ctx = recordingContext();
  const bg = { tag: 'bg', width: 40, height: 20 };
  const r = createRenderer(ctx, { width: 60, height: 40, background: 'sky', images: { sky: { image: bg } } });
  r.draw([]);
  assert.deepEqual(fillStyles(ctx)[0], '#000000');
  assert.deepEqual(named(ctx, 'drawImage')[0], ['drawImage', bg, 0, 0, 40, 20, 10, 10, 40, 20]);
});

test('permanent objects persist across frames until clear(); listing them again updates them', () => {
  const ctx = recordingContext();
  const r = createRenderer(ctx, { width: 10, height: 10 });
  r.draw([
    { uuid: 'wall', object_type: 'rectangle', color: 'wall1', x: 0, y: 0, width: 1, height: 1, permanent: true },
    { uuid: 'ball', object_type: 'circle', color: 'ball', x: 0, y: 0, radius: 1 },
  ]);
  ctx.calls.length = 0;
  r.draw([]);
  assert.deepEqual(fillStyles(ctx).slice(1), ['wall1'], 'wall stays, ball is gone');
  ctx.calls.length = 0;
  r.draw([{ uuid: 'wall', object_type: 'rectangle', color: 'wall2', x: 0, y: 0, width: 1, height: 1, permanent: true }]);
  assert.deepEqual(fillStyles(ctx).slice(1), ['wall2']);
  ctx.calls.length = 0;
  r.clear();
  r.draw([]);
  assert.deepEqual(fillStyles(ctx).slice(1), []);
});

test('equal depths draw in creation order (a later object draws over an earlier one)', () => {
  const ctx = recordingContext();
  const r = createRenderer(ctx, { width: 10, height: 10 });
  const rect = (uuid, depth = 0) => ({ uuid, object_type: 'rectangle', color: uuid, x: 0, y: 0, width: 1, height: 1, depth });
  r.draw([rect('old')]);
  ctx.calls.length = 0;
  r.draw([rect('new'), rect('old'), rect('under', -1)]);
  assert.deepEqual(fillStyles(ctx).slice(1), ['under', 'old', 'new']);
});

test('tweens glide from the shown position to the new one (render-only); a new target restarts the glide', () => {
  let t = 1000;
  const ctx = recordingContext();
  const r = createRenderer(ctx, { width: 100, height: 100, now: () => t, images: { p: { image: { width: 1, height: 1 } } } });
  const sprite = (x, tween = true) => ({ uuid: 'chef', object_type: 'sprite', image_name: 'p', x, y: 0, width: 10, height: 10, tween, tween_duration: 100 });
  const shownX = () => named(ctx, 'translate').at(-1)[1];
  r.draw([sprite(0)]);
  assert.equal(shownX(), 0);
  assert.equal(r.animating, false);
  r.draw([sprite(0.5)]);
  assert.equal(shownX(), 0, 'the glide starts where the sprite was');
  assert.equal(r.animating, true);
  t += 50;
  r.render();
  assert.equal(shownX(), 25);
  r.draw([sprite(0.1)]); // retarget mid-glide: from 25 towards 10
  t += 50;
  r.render();
  assert.equal(shownX(), 17.5);
  t += 60;
  r.render();
  assert.equal(shownX(), 10);
  assert.equal(r.animating, false);
  r.draw([sprite(0.9, false)]); // tween off: jumps
  assert.equal(shownX(), 90);
  // A glide that ends between two renders still asks for the render that shows its end.
  r.draw([sprite(0.5)]);
  t += 40;
  r.render();
  assert.equal(shownX(), 74);
  t += 500;
  assert.equal(r.animating, true, 'the last render showed the sprite part-way');
  r.render();
  assert.equal(shownX(), 50);
  assert.equal(r.animating, false);
});

test('RGB frames: a list of rows of [r, g, b] pixels, the compact array form, and rendered_env_rgb objects', () => {
  const made = [];
  const makeCanvas = (w, h) => {
    const c = { w, h, pixels: null };
    c.getContext = () => ({
      createImageData: (iw, ih) => ({ data: new Uint8ClampedArray(iw * ih * 4) }),
      putImageData: (d) => { c.pixels = Array.from(d.data); },
    });
    made.push(c);
    return c;
  };
  const ctx = recordingContext();
  const r = createRenderer(ctx, { width: 4, height: 4, makeCanvas });
  assert.deepEqual(r.draw([[[255, 0, 0], [0, 255, 0]]]), { drawn: 1, skipped: 0 });
  assert.deepEqual([made[0].w, made[0].h], [2, 1]);
  assert.deepEqual(made[0].pixels, [255, 0, 0, 255, 0, 255, 0, 255]);
  assert.deepEqual(named(ctx, 'drawImage')[0], ['drawImage', made[0], 0, 0]);
  const data = Buffer.from([1, 2, 3, 4, 5, 6]).toString('base64');
  r.draw({ __p2p_rgb__: [2, 1, 3], data });
  assert.deepEqual(made[1].pixels, [1, 2, 3, 255, 4, 5, 6, 255]);
  assert.equal(rgbImage({ __p2p_rgb__: [2, 2, 3], data }), 'bad');
  ctx.calls.length = 0;
  const res = r.draw([
    { uuid: 'dot', object_type: 'circle', x: 0.5, y: 0.5, radius: 1, color: '#fff' },
    { object_type: 'rendered_env_rgb', name: 'view', game_image: [[[9, 9, 9]]] },
  ]);
  assert.deepEqual(res, { drawn: 2, skipped: 0 });
  const first = ctx.calls.findIndex((c) => c[0] === 'drawImage');
  assert.ok(first >= 0 && first < ctx.calls.findIndex((c) => c[0] === 'arc'), 'the RGB image is under the other objects');
});

test('bad objects are skipped and counted, never thrown', () => {
  const ctx = recordingContext();
  const r = createRenderer(ctx);
  const res = r.draw([
    null, 7, { object_type: 'hologram' },
    { uuid: 'c', object_type: 'circle', x: NaN, y: 0, radius: 1 },
    { uuid: 'p', object_type: 'polygon', points: [[0, 0], [1, 'x'], [1, 1]] },
    { uuid: 'l', object_type: 'line', width: 1, points: [] },
    { uuid: 't', object_type: 'text', x: 0, y: 0 },
    { uuid: 'ok', object_type: 'circle', x: 0.1, y: 0.1, radius: 2, color: '#000' },
  ]);
  assert.deepEqual(res, { drawn: 1, skipped: 7 });
  assert.deepEqual(r.draw(undefined), { drawn: 0, skipped: 0 });
  assert.deepEqual(r.draw([[[1, 2]]]), { drawn: 0, skipped: 1 }, 'an RGB frame with 2-channel pixels');
  assert.deepEqual(r.draw({ game_state_objects: [{ uuid: 'x', object_type: 'circle', x: 0, y: 0, radius: 1 }] }), { drawn: 1, skipped: 0 });
});

test('pixel ratio scales the whole frame; HUD lines are drawn last', () => {
  const ctx = recordingContext();
  const r = createRenderer(ctx, { width: 600, height: 400, pixelRatio: 2 });
  r.setHud({ pingMs: 41.6, rollbacks: 3, path: { kind: 'relay', protocol: 'udp' } });
  r.draw([{ uuid: 'c', object_type: 'circle', x: 0.5, y: 0.5, radius: 3 }]);
  assert.deepEqual(named(ctx, 'setTransform')[0], ['setTransform', 2, 0, 0, 2, 0, 0]);
  const texts = named(ctx, 'fillText').map((c) => c[1]);
  assert.deepEqual(texts, ['ping 42 ms', 'rollbacks 3', 'path relay/udp']);
  const lastCall = ctx.calls.filter((c) => c[0] !== 'set' && c[0] !== 'restore').at(-1);
  assert.equal(lastCall[0], 'fillText');
});

test('formatHud handles missing values', () => {
  assert.deepEqual(formatHud(null), []);
  assert.deepEqual(formatHud({ pingMs: NaN, path: null }), ['ping - ms', 'path -']);
  assert.deepEqual(formatHud({ rollbacks: 0, extra: 'episode 2/3' }), ['rollbacks 0', 'episode 2/3']);
});

test('invalid configuration is a clear error', () => {
  assert.throws(() => createRenderer(recordingContext(), { width: 0 }), RangeError);
  assert.throws(() => createRenderer(recordingContext(), { locationRepresentation: 'polar' }), /relative' or 'pixels'/);
});
