// Textures for the renderer: an image, a spritesheet (frames by index) or a TexturePacker atlas
// (frames by name; JSON hash, JSON array or multi-atlas), as Interactive Gym's specs name them
// (ImgSpec, AtlasSpec, MultiAtlasSpec, Phaser's spritesheet). Pure: images come in decoded,
// assets.js fetches them.
//
// A frame is {image, x, y, w, h, srcW, srcH, offX, offY}: the rectangle in `image`, and where
// it sits in the untrimmed source (a trimmed atlas frame is drawn at its offset, scaled as the
// whole source), so a sprite of width x height shows the source frame at that size.

/** The frame covering a whole image. */
export function wholeFrame(image) {
  const w = imageWidth(image);
  const h = imageHeight(image);
  return { image, x: 0, y: 0, w, h, srcW: w, srcH: h, offX: 0, offY: 0 };
}

/** A texture of one image ('image': every frame is the whole image, as Phaser falls back to it). */
export function imageTexture(name, image) {
  return { name, kind: 'image', image, base: wholeFrame(image), frames: new Map() };
}

/** Phaser spritesheet: frames 0, 1, ... left to right, top to bottom. */
export function spritesheetTexture(name, image, frameWidth, frameHeight) {
  if (!(Number.isInteger(frameWidth) && frameWidth > 0 && Number.isInteger(frameHeight) && frameHeight > 0)) {
    throw new RangeError(`spritesheet ${name}: frame_width and frame_height must be positive integers`);
  }
  const cols = Math.floor(imageWidth(image) / frameWidth);
  const rows = Math.floor(imageHeight(image) / frameHeight);
  const frames = new Map();
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      frames.set(String(r * cols + c), {
        image, x: c * frameWidth, y: r * frameHeight, w: frameWidth, h: frameHeight,
        srcW: frameWidth, srcH: frameHeight, offX: 0, offY: 0,
      });
    }
  }
  return { name, kind: 'spritesheet', image, base: wholeFrame(image), frames };
}

/**
 * A TexturePacker atlas. `json` is the atlas file: {frames: {...} | [...]} (one image) or
 * {textures: [{image, frames}, ...]} (multi-atlas, `images` in the same order).
 */
export function atlasTexture(name, json, images) {
  const list = Array.isArray(images) ? images : [images];
  const frames = new Map();
  if (json && Array.isArray(json.textures)) {
    if (json.textures.length !== list.length) {
      throw new Error(`atlas ${name}: ${json.textures.length} textures in the JSON, ${list.length} images`);
    }
    json.textures.forEach((page, i) => addFrames(name, frames, page.frames, list[i]));
  } else {
    addFrames(name, frames, json?.frames, list[0]);
  }
  return { name, kind: json && Array.isArray(json.textures) ? 'multiatlas' : 'atlas', image: list[0], base: wholeFrame(list[0]), frames };
}

function addFrames(name, out, frames, image) {
  const entries = Array.isArray(frames) ? frames.map((f) => [f?.filename, f])
    : frames && typeof frames === 'object' ? Object.entries(frames) : null;
  if (!entries) throw new Error(`atlas ${name}: no frames (a TexturePacker JSON hash or array)`);
  for (const [key, f] of entries) {
    const r = f?.frame;
    if (typeof key !== 'string' || !r || ![r.x, r.y, r.w, r.h].every(Number.isFinite)) {
      throw new Error(`atlas ${name}: frame ${JSON.stringify(key)} has no frame rectangle {x, y, w, h}`);
    }
    if (f.rotated === true) {
      throw new Error(`atlas ${name}: frame ${key} is rotated; export the atlas without rotation`);
    }
    const trimmed = f.trimmed === true && f.spriteSourceSize && f.sourceSize;
    out.set(key, {
      image, x: r.x, y: r.y, w: r.w, h: r.h,
      srcW: trimmed ? f.sourceSize.w : r.w,
      srcH: trimmed ? f.sourceSize.h : r.h,
      offX: trimmed ? f.spriteSourceSize.x : 0,
      offY: trimmed ? f.spriteSourceSize.y : 0,
    });
  }
}

/**
 * A plain texture description {image, frames?: {name: {x, y, w, h}}} (hand-made textures, tests)
 * as a texture; textures made by the functions above pass through.
 */
export function toTexture(name, t) {
  if (!t || typeof t !== 'object') return null;
  if (t.base && t.frames instanceof Map) return t;
  if (!t.image) return null;
  const tex = imageTexture(name, t.image);
  if (t.frames && typeof t.frames === 'object') {
    tex.kind = 'atlas';
    for (const [key, r] of Object.entries(t.frames)) {
      tex.frames.set(key, { image: t.image, x: r.x, y: r.y, w: r.w, h: r.h, srcW: r.w, srcH: r.h, offX: 0, offY: 0 });
    }
  }
  return tex;
}

/**
 * The frame a sprite shows: an image texture always shows the whole image; no frame shows the
 * whole (first) image, as Phaser does; an unknown frame is null (the sprite is skipped).
 */
export function frameOf(tex, frame) {
  if (tex.kind === 'image' || frame === null || frame === undefined) return tex.base;
  return tex.frames.get(String(frame)) ?? null;
}

function imageWidth(image) {
  return image?.naturalWidth ?? image?.width ?? 0;
}

function imageHeight(image) {
  return image?.naturalHeight ?? image?.height ?? 0;
}
