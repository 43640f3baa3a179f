// assets.js: a scene's textures fetched and decoded before the game (fake fetch and decoder:
// which URLs, how often, and what a failure says).
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { loadSceneAssets } from '../../static/js/assets.js';
import { frameOf } from '../../static/js/textures.js';

function server(files) {
  const fetched = [];
  const fetch = async (url) => {
    fetched.push(url);
    if (!(url in files)) return { ok: false, status: 404 };
    const body = files[url];
    return { ok: true, status: 200, blob: async () => ({ url, size: body.size }), json: async () => body };
  };
  const decodeImage = async (blob) => ({ src: blob.url, width: blob.size[0], height: blob.size[1] });
  return { fetch, decodeImage, fetched };
}

const ATLAS = { frames: { 'up.png': { frame: { x: 0, y: 0, w: 16, h: 16 } }, 'down.png': { frame: { x: 16, y: 0, w: 16, h: 16 } } } };
const MULTI = {
  textures: [
    { image: 'p0.png', frames: [{ filename: 'onion', frame: { x: 0, y: 0, w: 8, h: 8 } }] },
    { image: 'p1.png', frames: [{ filename: 'dish', frame: { x: 8, y: 0, w: 8, h: 8 } }] },
  ],
};

test('images, atlases, multi-atlases and spritesheets load into textures the renderer reads', async () => {
  const io = server({
    '/a/chefs.png': { size: [32, 16] }, '/a/chefs.json': ATLAS, '/a/bg.png': { size: [60, 40] },
    '/a/objs.json': MULTI, '/a/p0.png': { size: [8, 8] }, '/a/p1.png': { size: [16, 8] }, '/a/grid.png': { size: [32, 32] },
  });
  const textures = await loadSceneAssets([
    { name: 'chefs', kind: 'atlas', image: '/a/chefs.png', atlas: '/a/chefs.json', images: null },
    { name: 'bg', kind: 'image', image: '/a/bg.png', atlas: null, images: null },
    { name: 'bg2', kind: 'image', image: '/a/bg.png', atlas: null, images: null },
    { name: 'objs', kind: 'multiatlas', image: '/a/p0.png', atlas: '/a/objs.json', images: ['/a/p0.png', '/a/p1.png'] },
    { name: 'grid', kind: 'spritesheet', image: '/a/grid.png', atlas: null, images: null, frame_width: 16, frame_height: 16 },
  ], io);
  assert.deepEqual([...textures.keys()], ['chefs', 'bg', 'bg2', 'objs', 'grid']);
  assert.deepEqual(frameOf(textures.get('chefs'), 'down.png'), { image: { src: '/a/chefs.png', width: 32, height: 16 }, x: 16, y: 0, w: 16, h: 16, srcW: 16, srcH: 16, offX: 0, offY: 0 });
  assert.equal(frameOf(textures.get('chefs'), 'left.png'), null);
  assert.equal(frameOf(textures.get('bg'), 'anything').w, 60, 'an image shows itself whatever the frame');
  assert.equal(frameOf(textures.get('objs'), 'dish').image.src, '/a/p1.png');
  assert.equal(textures.get('grid').frames.size, 4);
  assert.equal(frameOf(textures.get('grid'), 3).y, 16);
  // One request per file, even when two textures share it.
  assert.equal(io.fetched.filter((u) => u === '/a/bg.png').length, 1);
  assert.equal(io.fetched.filter((u) => u === '/a/p0.png').length, 1);
});

test('a missing file fails the load and names the texture and URL', async () => {
  const io = server({ '/a/chefs.json': ATLAS });
  await assert.rejects(
    loadSceneAssets([{ name: 'chefs', kind: 'atlas', image: '/a/chefs.png', atlas: '/a/chefs.json' }], io),
    /texture 'chefs': image \/a\/chefs\.png: HTTP 404/,
  );
  await assert.rejects(loadSceneAssets([{ name: 'x', kind: 'sound', image: '/a/x' }], io), /unknown kind "sound"/);
  assert.equal((await loadSceneAssets(null, io)).size, 0);
});
