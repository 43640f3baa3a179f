// Preloads a scene's textures before its game starts: every image and atlas the scene's
// assets_to_preload / preload_specs name, fetched from the experiment's own server (the scene
// payload's `rendering.textures`, URLs under /p2p/assets/) and decoded, so the renderer never
// meets a texture that is not there yet. A failure names the texture and its URL.

import { atlasTexture, imageTexture, spritesheetTexture } from './textures.js';

/**
 * @param {Array<object>|null} textures  the scene payload's rendering.textures:
 *        [{name, kind: 'image'|'atlas'|'multiatlas'|'spritesheet', image, atlas, images, frame_width, frame_height}]
 * @param {object} [io]
 * @param {Function} [io.fetch]        fetch(url) -> Response (default globalThis.fetch)
 * @param {Function} [io.decodeImage]  (Blob) -> Promise<CanvasImageSource> (default createImageBitmap)
 * @returns {Promise<Map<string, object>>} texture name -> texture (textures.js)
 */
export async function loadSceneAssets(textures, io = {}) {
  const doFetch = io.fetch ?? ((url) => globalThis.fetch(url));
  const decode = io.decodeImage ?? ((blob) => globalThis.createImageBitmap(blob));
  const list = Array.isArray(textures) ? textures : [];
  // The same file may back several textures: fetch and decode it once.
  const images = new Map();
  const image = (name, url) => {
    if (!images.has(url)) {
      images.set(url, get(doFetch, name, url).then((r) => r.blob()).then(decode).catch((err) => {
        throw new Error(`texture '${name}': image ${url}: ${err?.message ?? err}`);
      }));
    }
    return images.get(url);
  };
  const atlasJson = (name, url) => get(doFetch, name, url).then((r) => r.json()).catch((err) => {
    throw new Error(`texture '${name}': atlas ${url}: ${err?.message ?? err}`);
  });
  const loaded = await Promise.all(list.map(async (t) => {
    switch (t.kind) {
      case 'image':
        return imageTexture(t.name, await image(t.name, t.image));
      case 'spritesheet':
        return spritesheetTexture(t.name, await image(t.name, t.image), t.frame_width, t.frame_height);
      case 'atlas': {
        const [json, img] = await Promise.all([atlasJson(t.name, t.atlas), image(t.name, t.image)]);
        return atlasTexture(t.name, json, img);
      }
      case 'multiatlas': {
        const [json, ...imgs] = await Promise.all([atlasJson(t.name, t.atlas), ...t.images.map((u) => image(t.name, u))]);
        return atlasTexture(t.name, json, imgs);
      }
      default:
        throw new Error(`texture '${t.name}': unknown kind ${JSON.stringify(t.kind)}`);
    }
  }));
  return new Map(loaded.map((tex) => [tex.name, tex]));
}

async function get(doFetch, name, url) {
  const r = await doFetch(url);
  if (!r.ok) throw new Error(`HTTP ${r.status}`);
  return r;
}
