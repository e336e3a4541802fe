// The twonets web page: a generator exported by `tools/export --formats=web` (or the bundled
// one in model/) sampled in the browser by LiteRT.js (WebAssembly, CPU). What people do with
// it: sample grids of seeded images, pick two samples and interpolate between them, move a
// sample's latent along a few axes, watch a walk through latent space, and save PNGs.
//
// Query parameters: ?model=DIR/ (a folder holding metadata.json and the .tflite files,
// on the server the page came from: resolved against the page's URL and refused on any other
// origin; default model/), ?variant=QUANT (float32, float16, dynamic, int8: whichever the folder
// has), ?view=NAME (multi-view exports), ?seed=N, ?walk=0 (the walk starts paused).
//
// The hook for tests and apps: window.twonets (its `ready` promise resolves when the first
// grid is drawn) with
//   latents(seed, n)       → number[] (n·d): the seeded z the page draws (latents.js)
//   interpolate(A, B, amounts) → the z the sliders give: z_A with each latent part moved
//                            amounts[part] of the way to z_B (parts(): their index ranges)
//   generate(z, n)         → {shape, data, ms}: the model's output tensor for an explicit
//                            z (n·d numbers, row-major), values in [-1, 1], and each call's ms
//   select(variant, view)  → loads another file of the folder and redraws the page
//   benchmark(n, seed)     → {median_ms, min_ms, n}: per-image latency of n calls
//   state()                → what the controls show: {seed, ends: {a, b}, pick, explore,
//                            walk}; a sample is {seed, index}: image `index` of that seed's grid
//   idle()                 → resolves once every redraw queued so far has run
//   interceptDownloads     → when true, the download buttons only set lastDownload
//                            ({name, url}: the PNG's data URL) instead of saving a file
//   info, error            → what is loaded; the last error message ('' if none)
import {Environment, loadLiteRt, loadAndCompile, Tensor} from '@litertjs/core';
import {latents} from './latents.js';

const params = new URLSearchParams(location.search);
const modelDir = (params.get('model') || 'model/').replace(/\/?$/, '/');
const $ = (id) => document.getElementById(id);
const GRID = 8;
const AXES = 5;             // explorer sliders (fewer when the latent is smaller)
const WALK_FRAMES = 20;     // frames from one walk latent to the next
const WALK_MS = 100;        // between walk frames: about 10 fps

// Wasm only: loadLiteRt's default environment asks for a WebGPU device first, which logs
// "No GPU adapter found" where there is none; the page compiles for wasm, so the environment
// is made without a device.
const createEnvironment = Environment.create.bind(Environment);
Environment.create = (options = {}) => createEnvironment({webGpuDevice: null, ...options});

const state = {base: null, meta: null, model: null, file: '', d: 0, shape: null, loadMs: 0,
               runtimeMs: 0, gridSeed: 0, ends: {a: {seed: 0, index: 0}, b: {seed: 1, index: 0}},
               nextEnd: 'a', pick: {seed: 0, index: 0},
               walk: {seed: 0, frame: 0, shown: -1, playing: false, timer: 0}};
const hook = {error: '', info: null};
window.twonets = hook;

function setStatus(text, error = false) {
  $('status').textContent = text;
  $('status').className = error ? 'error' : '';
  if (error) hook.error = text;
}

function fileOf(variant, view) {
  const meta = state.meta;
  if (meta.view_files) {
    const files = meta.view_files[view];
    if (!files) throw new Error(`no view ${view} in ${modelDir}metadata.json (views: ${Object.keys(meta.view_files).join(', ')})`);
    return files[variant];
  }
  return meta.files[variant];
}

// Where the page is served from: http(s) URLs of its own origin (file: ones when it is a file).
const here = location.protocol === 'file:' ? 'file:' : location.origin;

/** `path` resolved against `base` (default: the page), as a URL; an Error unless it is on
 *  the page's own origin, so nothing (?model=, a name in metadata.json) loads from elsewhere. */
function local(path, base = location.href, what = `?model=${modelDir}`) {
  let url;
  try {
    url = new URL(path, base);
  } catch (e) {
    throw new Error(`${what} is not a URL; pass ?model=DIR/, a folder on ${here}`);
  }
  const ok = location.protocol === 'file:' ? url.protocol === 'file:' :
      (url.protocol === 'http:' || url.protocol === 'https:') && url.origin === location.origin;
  if (!ok) {
    const there = url.origin !== 'null' ? url.origin : url.protocol;
    throw new Error(`${what} is on ${there}, not this page's origin ${here}; the page loads ` +
                    `models only from where it is served (?model=DIR/, a folder there)`);
  }
  return url;
}

async function select(variant, view) {
  if (state.meta.view_files && !view) view = $('view').value || Object.keys(state.meta.view_files)[0];
  const file = fileOf(variant, view);
  if (!file) throw new Error(`no ${variant} file in ${modelDir}metadata.json (files: ${Object.keys(state.meta.files).join(', ')})`);
  const t0 = performance.now();
  const url = local(file, state.base, `${modelDir}metadata.json's file ${file}`);
  const model = await loadAndCompile(url.href, {accelerator: 'wasm'});
  const input = model.getInputDetails()[0];
  const shape = Array.from(input.shape);
  if (shape.length !== 2 || shape[0] !== 1) {
    model.delete();
    throw new Error(`${file} takes z of shape [${shape}]; LiteRT.js needs a fixed batch of 1 ` +
                    `(export with tools/export --formats=web)`);
  }
  if (state.model) state.model.delete();
  Object.assign(state, {model, file, d: shape[1], loadMs: performance.now() - t0});
  state.shape = Array.from(model.getOutputDetails()[0].shape).slice(1);
  hook.info = {
    file, variant, view: view || null, latent_dim: state.d, image_shape: state.shape,
    algorithm: state.meta.algorithm, training_step: state.meta.training_step,
    load_ms: state.loadMs, runtime_ms: state.runtimeMs,
    variants: Object.keys(state.meta.files),
    views: state.meta.view_files ? Object.keys(state.meta.view_files) : [],
    latent_parts: state.meta.latent_parts || null,
  };
  $('info').textContent = `${file} · z ∈ R^${state.d} → ${state.shape.join('×')} · LiteRT.js ` +
      `runtime ${state.runtimeMs.toFixed(0)} ms, model ${state.loadMs.toFixed(0)} ms to load`;
}

const DATASETS = {fashion_mnist: 'Fashion-MNIST', mnist: 'MNIST', cifar10: 'CIFAR-10',
                  celeb_a: 'CelebA', svhn_cropped: 'SVHN'};

/** The title and the model's description from metadata.json: what it is, how it was
 *  trained, how good its samples are and what made it; fields it lacks are left out. */
function describe(meta) {
  const data = meta.dataset ? (DATASETS[meta.dataset] || meta.dataset) : '';
  const algo = meta.algorithm || 'generative';
  $('title').textContent = data ? `${data} images from a ${algo} generator` :
      `A ${algo} generator in your browser`;
  document.title = `twonets · ${$('title').textContent}`;
  const about = $('about');
  about.textContent = '';
  const add = (text, tag = 'span') => {
    const el = document.createElement(tag);
    el.textContent = text;
    about.appendChild(el);
    return el;
  };
  const shape = meta.image_shape || [];
  const kind = shape[2] === 1 ? 'grayscale ' : shape[2] === 3 ? 'colour ' : '';
  let what = `A ${algo} generator`;
  if (data) what += ` trained on ${data}`;
  if (meta.training_step) what += ` for ${Number(meta.training_step).toLocaleString('en')} steps`;
  what += ` turns ${meta.latent_dim || 'a few'} random numbers (z ~ N(0, I)) into a ` +
      `${shape.length ? shape.slice(0, 2).join('×') + ' ' : ''}${kind}image; it runs here, ` +
      'in your browser (LiteRT.js, WebAssembly). ';
  add(what);
  const made = meta.made_by || {};
  const m = made.metrics || {};
  if (typeof m.fd === 'number') {
    let quality = `Sample quality: FD ${m.fd.toFixed(2)} (Fréchet distance to test images, ` +
        'lower is better';
    if (m.classifier_sha256) {
      quality += `; features of the pinned classifier sha256 ${m.classifier_sha256}`;
    }
    quality += ')';
    if (typeof m.kid === 'number') quality += `, KID ${m.kid.toFixed(3)}`;
    if (typeof m.classes_present === 'number') quality += `, ${m.classes_present} classes present`;
    add(quality + '. ');
  }
  if (made.command) {
    add('Made by ');
    add(made.command, 'code');
    add(made.commit ? ` at commit ${made.commit}.` : '.');
  }
}

/** The output tensor for z (n·d numbers): one LiteRT.js call per image (batch 1). */
async function generate(z, n) {
  const d = state.d;
  const z32 = Float32Array.from(z);
  if (z32.length !== n * d) throw new Error(`z has ${z32.length} numbers; ${n} images need ${n * d}`);
  const pixels = state.shape.reduce((a, b) => a * b, 1);
  const data = new Float32Array(n * pixels);
  const ms = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    const input = new Tensor(z32.slice(i * d, (i + 1) * d), [1, d]);
    let outputs = [];
    try {
      outputs = await model().run(input);
      data.set(outputs[0].toTypedArray(), i * pixels);
    } finally {
      input.delete();
      for (const t of outputs) t.delete();
    }
    ms.push(performance.now() - t0);
  }
  return {shape: [n, ...state.shape], data, ms};
}

function model() {
  if (!state.model) throw new Error('no model loaded');
  return state.model;
}

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

/** Images [n, H, W, C] in [-1, 1] onto a canvas, `cols` a row (uint8 = round((x+1)·127.5)). */
function draw(canvas, out, cols) {
  const [n, h, w, c] = out.shape;
  const rows = Math.ceil(n / cols);
  canvas.width = cols * w;
  canvas.height = rows * h;
  const ctx = canvas.getContext('2d');
  const img = ctx.createImageData(canvas.width, canvas.height);
  for (let k = 0; k < n; k++) {
    const x0 = (k % cols) * w, y0 = Math.floor(k / cols) * h;
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        const src = ((k * h + y) * w + x) * c;
        const dst = ((y0 + y) * canvas.width + x0 + x) * 4;
        for (let ch = 0; ch < 3; ch++) {
          const v = out.data[src + (c === 1 ? 0 : ch)];
          img.data[dst + ch] = Math.round((Math.min(1, Math.max(-1, v)) + 1) * 127.5);
        }
        img.data[dst + 3] = 255;
      }
    }
  }
  ctx.putImageData(img, 0, 0);
}

function seedOf(id) {
  const text = $(id).value.trim();
  const v = text === '' ? NaN : Number(text);
  if (!Number.isInteger(v) || v < 0 || v > 0xFFFFFFFF) throw new Error(`${id}: a seed is an integer 0..4294967295`);
  return v;
}

/** A fresh random seed (0..2^32 − 1) for the sample button and the walk. */
function randomSeed() {
  return crypto.getRandomValues(new Uint32Array(1))[0];
}

/** The latent of a sample {seed, index}: image `index` of that seed's grid (latents.js draws
 *  image i's z the same however many images follow it). */
function latentOf(sample) {
  const d = state.d;
  return latents(sample.seed, sample.index + 1, d).slice(sample.index * d);
}

async function drawGrid() {
  const n = GRID * GRID;
  const seed = seedOf('seed');
  const out = await generate(latents(seed, n, state.d), n);
  draw($('grid'), out, GRID);
  state.gridSeed = seed;
  showEnds();
  $('latency').textContent = `${n} images, ${median(out.ms).toFixed(2)} ms per image ` +
      `(median; min ${Math.min(...out.ms).toFixed(2)}) · LiteRT.js, WebAssembly CPU, batch 1`;
}

// Interpolation: z(t) = (1 − t)·z_A + t·z_B; with latent_parts (the deformable generator)
// each part has its own slider, so appearance and geometry move separately.
function parts() {
  return state.meta.latent_parts || {'A → B': [0, state.d]};
}

function slider(box, name, attrs, onInput) {
  const label = document.createElement('label');
  const text = document.createElement('span');
  text.className = 'part';
  text.textContent = name;
  label.appendChild(text);
  const input = document.createElement('input');
  Object.assign(input, {type: 'range', ...attrs});
  input.addEventListener('input', onInput);
  label.appendChild(input);
  box.appendChild(label);
  return input;
}

function buildSliders() {
  const box = $('sliders');
  box.textContent = '';
  for (const name of Object.keys(parts())) {
    const s = slider(box, name, {min: 0, max: 100, value: 0}, () => run(drawMix));
    s.dataset.part = name;
  }
  // The explorer's directions: the first coordinate axes e_1 … e_K. The prior N(0, I) is
  // rotation invariant, so every orthonormal basis is a set of its principal directions and
  // the coordinate axes are an honest choice (no direction is more "principal" than another).
  const explore = $('explore');
  explore.textContent = '';
  for (let k = 0; k < Math.min(AXES, state.d); k++) {
    const s = slider(explore, `axis ${k + 1}`, {min: -3, max: 3, step: 0.05, value: 0},
                     () => run(drawExplore));
    s.dataset.axis = k;
  }
}

function mixed(zA, zB, amounts) {
  const z = Float32Array.from(zA);
  for (const [name, [lo, hi]] of Object.entries(parts())) {
    const t = amounts[name] ?? 0;
    for (let i = lo; i < hi; i++) z[i] = (1 - t) * zA[i] + t * zB[i];
  }
  return z;
}

async function drawMix() {
  const zA = latentOf(state.ends.a), zB = latentOf(state.ends.b);
  const amounts = {};
  for (const s of $('sliders').querySelectorAll('input')) {
    amounts[s.dataset.part] = Number(s.value) / 100;
  }
  draw($('mix'), await generate(mixed(zA, zB, amounts), 1), 1);
}

async function drawStrips() {
  const zA = latentOf(state.ends.a), zB = latentOf(state.ends.b);
  const box = $('strips');
  const canvases = [];
  const steps = 8;
  for (const name of Object.keys(parts())) {
    const z = [];
    for (let s = 0; s < steps; s++) {
      const amounts = {};
      for (const other of Object.keys(parts())) amounts[other] = other === name ? s / (steps - 1) : 0;
      z.push(...mixed(zA, zB, amounts));
    }
    const canvas = document.createElement('canvas');
    canvas.className = 'strip';
    canvas.title = `${name}: A → B`;
    draw(canvas, await generate(z, steps), steps);
    canvases.push(canvas);
  }
  box.replaceChildren(...canvases);
}

/** The explorer's offsets t_k, one per axis slider. */
function offsets() {
  return Array.from($('explore').querySelectorAll('input'), (s) => Number(s.value));
}

async function drawExplore() {
  const z = latentOf(state.pick);
  offsets().forEach((t, k) => { z[k] += t; });
  draw($('image'), await generate(z, 1), 1);
  $('image-source').textContent = `seed ${state.pick.seed}, sample #${state.pick.index}`;
}

// The endpoints: the chips say which one the next grid click sets; markers over the grid
// show where A and B are when they come from the grid on screen.
function showEnds() {
  for (const end of ['a', 'b']) {
    const {seed, index} = state.ends[end];
    $(`seed-${end}`).value = String(seed);
    $(`index-${end}`).textContent = `#${index}`;
    $(`end-${end}`).classList.toggle('next', state.nextEnd === end);
    let marker = document.querySelector(`.marker.${end}`);
    if (!marker) {
      marker = document.createElement('div');
      marker.className = `marker ${end}`;
      marker.textContent = end.toUpperCase();
      $('board').appendChild(marker);
    }
    marker.hidden = seed !== state.gridSeed;
    Object.assign(marker.style, {left: `${100 * (index % GRID) / GRID}%`,
                                 top: `${100 * Math.floor(index / GRID) / GRID}%`,
                                 width: `${100 / GRID}%`, height: `${100 / GRID}%`});
  }
}

function pickSample(event) {
  const box = $('grid').getBoundingClientRect();
  const col = Math.floor((event.clientX - box.left) / box.width * GRID);
  const row = Math.floor((event.clientY - box.top) / box.height * GRID);
  if (col < 0 || col >= GRID || row < 0 || row >= GRID) return;
  const sample = {seed: state.gridSeed, index: row * GRID + col};
  state.ends[state.nextEnd] = sample;
  state.nextEnd = state.nextEnd === 'a' ? 'b' : 'a';
  state.pick = {...sample};
  showEnds();
  run(async () => { await drawMix(); await drawStrips(); await drawExplore(); });
}

// The walk: keyframe j is latents(seed + j) (seeds mod 2^32); frame f lies t = (f mod F)/F of
// the way along the great circle (slerp) from keyframe ⌊f/F⌋ to the next.
function slerp(a, b, t) {
  let dot = 0, na = 0, nb = 0;
  for (let i = 0; i < a.length; i++) { dot += a[i] * b[i]; na += a[i] * a[i]; nb += b[i] * b[i]; }
  const omega = Math.acos(Math.min(1, Math.max(-1, dot / Math.sqrt(na * nb))));
  const z = new Float32Array(a.length);
  const s = Math.sin(omega);
  const wa = s < 1e-6 ? 1 - t : Math.sin((1 - t) * omega) / s;
  const wb = s < 1e-6 ? t : Math.sin(t * omega) / s;
  for (let i = 0; i < a.length; i++) z[i] = wa * a[i] + wb * b[i];
  return z;
}

function walkLatent(seed, frame) {
  const j = Math.floor(frame / WALK_FRAMES);
  const a = latents((seed + j) >>> 0, 1, state.d), b = latents((seed + j + 1) >>> 0, 1, state.d);
  return slerp(a, b, (frame % WALK_FRAMES) / WALK_FRAMES);
}

async function drawWalk() {
  const w = state.walk;
  draw($('walk'), await generate(walkLatent(w.seed, w.frame), 1), 1);
  w.shown = w.frame;
  $('walk-info').textContent = `seed ${w.seed}, frame ${w.frame}`;
}

function walkStep() {
  const w = state.walk;
  if (!w.playing) return;
  run(async () => {
    if (!w.playing) return;  // paused while this frame waited in the queue
    w.frame += 1;
    await drawWalk();
  }).catch(() => {}).finally(() => {
    if (w.playing) w.timer = setTimeout(walkStep, WALK_MS);
  });
}

function setPlaying(playing) {
  const w = state.walk;
  w.playing = playing;
  clearTimeout(w.timer);
  $('play').textContent = playing ? 'pause' : 'play';
  if (playing) w.timer = setTimeout(walkStep, WALK_MS);
}

function download(canvasId, name) {
  return run(async () => {
    const url = $(canvasId).toDataURL('image/png');
    hook.lastDownload = {name, url};
    if (hook.interceptDownloads) return hook.lastDownload;
    const a = document.createElement('a');
    Object.assign(a, {href: url, download: name});
    a.click();
    return hook.lastDownload;
  });
}

// Every model use goes through one queue, so a redraw never runs while select() swaps the
// model (or while a hook call is generating); never call run() from inside a queued job.
let queue = Promise.resolve();
function run(fn) {
  const job = queue.then(fn).then((value) => {
    if (hook.error) setStatus('ready');
    hook.error = '';
    return value;
  }, (e) => {
    setStatus(String(e && e.message || e), true);
    throw e;
  });
  queue = job.catch(() => {});
  return job;
}

async function redraw() {
  await drawGrid();
  await drawMix();
  await drawStrips();
  await drawExplore();
  await drawWalk();
}

async function start() {
  state.base = local(modelDir);  // before anything is fetched
  setStatus('loading the LiteRT.js runtime');
  let t0 = performance.now();
  // The runtime prints its INFO and WARNING diagnostics on stderr, which Emscripten sends to
  // console.error; the WebAssembly module takes its printErr from self.Module (read once, as
  // loadLiteRt instantiates it), so each line goes to the console at its own level.
  self.Module = {printErr: (line) => {
    const level = /^(INFO|VERBOSE|DEBUG)\b/.test(line) ? 'debug' :
        /^WARNING\b/.test(line) ? 'warn' : 'error';
    console[level](line);
  }};
  await loadLiteRt(new URL('node_modules/@litertjs/core/wasm/', location.href).href);
  state.runtimeMs = performance.now() - t0;
  setStatus(`reading ${modelDir}metadata.json`);
  const response = await fetch(new URL('metadata.json', state.base));
  if (!response.ok) throw new Error(`${modelDir}metadata.json: HTTP ${response.status}; pass ?model=DIR/ of a web export`);
  state.meta = await response.json();
  describe(state.meta);
  const variants = Object.keys(state.meta.files);
  const variant = params.get('variant') || variants[0];
  const views = state.meta.view_files ? Object.keys(state.meta.view_files) : [];
  const view = params.get('view') || views[0] || '';
  for (const v of variants) $('variant').add(new Option(v, v, false, v === variant));
  for (const v of views) $('view').add(new Option(v, v, false, v === view));
  $('view-label').hidden = !views.length;
  if (params.get('seed')) $('seed').value = params.get('seed');
  state.pick = {seed: seedOf('seed'), index: 0};
  state.walk.seed = randomSeed();
  setStatus(`compiling ${variant}`);
  await select(variant, view);
  buildSliders();
  await redraw();
  setStatus('ready');
  const still = params.get('walk') === '0' ||
      matchMedia('(prefers-reduced-motion: reduce)').matches;
  setPlaying(!still);
}

const onChange = async () => {
  await select($('variant').value, $('view').value);
  await redraw();
  setStatus('ready');
};
$('variant').addEventListener('change', () => run(onChange));
$('view').addEventListener('change', () => run(onChange));
$('sample').addEventListener('click', () => {
  $('seed').value = String(randomSeed());
  run(drawGrid);
});
$('next').addEventListener('click', () => {
  $('seed').value = String(((Number($('seed').value) || 0) + 1) >>> 0);
  run(drawGrid);
});
// Enter (or leaving the box after an edit) draws the typed seed.
$('seed').addEventListener('keydown', (e) => { if (e.key === 'Enter') run(drawGrid); });
$('seed').addEventListener('change', () => run(async () => {
  if (seedOf('seed') !== state.gridSeed) await drawGrid();
}));
$('grid').addEventListener('click', (e) => { if (state.model) pickSample(e); });
for (const end of ['a', 'b']) {
  $(`seed-${end}`).addEventListener('change', () => run(async () => {
    state.ends[end] = {seed: seedOf(`seed-${end}`), index: 0};
    showEnds();
    await drawMix();
    await drawStrips();
  }));
}
$('reset-explore').addEventListener('click', () => {
  for (const s of $('explore').querySelectorAll('input')) s.value = 0;
  run(drawExplore);
});
$('play').addEventListener('click', () => setPlaying(!state.walk.playing));
$('download-grid').addEventListener('click', () => download(
    'grid', `twonets-seed${state.gridSeed}.png`));
$('download-image').addEventListener('click', () => download(
    'image', `twonets-seed${state.pick.seed}-${state.pick.index}.png`));

Object.assign(hook, {
  latents: (seed, n) => Array.from(latents(seed, n, state.d)),  // no model: not queued
  interpolate: (seedA, seedB, amounts) => Array.from(mixed(
      latents(seedA, 1, state.d), latents(seedB, 1, state.d), amounts)),
  parts: () => parts(),
  state: () => ({seed: state.gridSeed, ends: structuredClone(state.ends), next_end: state.nextEnd,
                 pick: {...state.pick}, explore: offsets(),
                 walk: {seed: state.walk.seed, frame: state.walk.shown,
                        playing: state.walk.playing, frames_per_step: WALK_FRAMES}}),
  idle: () => run(() => null),
  interceptDownloads: false,
  lastDownload: null,
  generate: (z, n) => run(async () => {
    const out = await generate(z, n);
    return {shape: out.shape, data: Array.from(out.data), ms: out.ms};
  }),
  select: (variant, view = '') => run(async () => {
    await select(variant, view);
    $('variant').value = variant;
    if (hook.info.view) $('view').value = hook.info.view;
    await redraw();
    return hook.info;
  }),
  benchmark: (n = 64, seed = 0) => run(async () => {
    await generate(latents(seed, 1, state.d), 1);  // warm-up
    const out = await generate(latents(seed, n, state.d), n);
    return {median_ms: median(out.ms), min_ms: Math.min(...out.ms), n};
  }),
});
hook.ready = run(start).then(() => hook.info);
