// The twonets web page: a generator exported by `tools/export --formats=web` (or the bundled
// one in model/) sampled in the browser by LiteRT.js (WebAssembly, CPU).
//
// Query parameters: ?model=DIR/ (a folder holding metadata.json and the .tflite files,
// on the server the page came from: resolved against the page's URL and refused on any other
// origin; default model/), ?variant=QUANT (float32, float16, dynamic, int8: whichever the folder
// has), ?view=NAME (multi-view exports), ?seed=N.
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
//   info, error            → what is loaded; the last error message ('' if none)
import {loadLiteRt, loadAndCompile, Tensor} from '@litertjs/core';
import {latents} from './latents.js';

const params = new URLSearchParams(location.search);
const modelDir = (params.get('model') || 'model/').replace(/\/?$/, '/');
const $ = (id) => document.getElementById(id);
const GRID = 8;

const state = {base: null, meta: null, model: null, file: '', d: 0, shape: null, loadMs: 0,
               runtimeMs: 0};
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
  $('info').textContent = `${state.meta.algorithm} generator, step ${state.meta.training_step}` +
      ` (${state.meta.dataset}) · ${file} · z ∈ R^${state.d} → ${state.shape.join('×')}` +
      ` · runtime ${state.runtimeMs.toFixed(0)} ms, model ${state.loadMs.toFixed(0)} ms to load`;
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

async function drawGrid() {
  const n = GRID * GRID;
  const out = await generate(latents(seedOf('seed'), n, state.d), n);
  draw($('grid'), out, GRID);
  $('latency').textContent = `${n} images, ${median(out.ms).toFixed(2)} ms per image ` +
      `(median; min ${Math.min(...out.ms).toFixed(2)}) · LiteRT.js, WebAssembly CPU, batch 1`;
}

// Interpolation: z(t) = (1 − t)·z_A + t·z_B; with latent_parts (the deformable generator)
// each part has its own slider, so appearance and geometry move separately.
function parts() {
  return state.meta.latent_parts || {'A → B': [0, state.d]};
}

function buildSliders() {
  const box = $('sliders');
  box.textContent = '';
  for (const name of Object.keys(parts())) {
    const label = document.createElement('label');
    const text = document.createElement('span');
    text.className = 'part';
    text.textContent = name;
    label.appendChild(text);
    const slider = document.createElement('input');
    Object.assign(slider, {type: 'range', min: 0, max: 100, value: 0});
    slider.dataset.part = name;
    slider.addEventListener('input', () => run(drawMix));
    label.appendChild(slider);
    box.appendChild(label);
    box.appendChild(document.createElement('br'));
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
  const zA = latents(seedOf('seed-a'), 1, state.d), zB = latents(seedOf('seed-b'), 1, state.d);
  const amounts = {};
  for (const slider of $('sliders').querySelectorAll('input')) {
    amounts[slider.dataset.part] = Number(slider.value) / 100;
  }
  draw($('mix'), await generate(mixed(zA, zB, amounts), 1), 1);
}

async function drawStrips() {
  const zA = latents(seedOf('seed-a'), 1, state.d), zB = latents(seedOf('seed-b'), 1, state.d);
  const box = $('strips');
  box.textContent = '';
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
    canvas.title = `${name}: seed A → seed B`;
    draw(canvas, await generate(z, steps), steps);
    box.appendChild(canvas);
  }
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
}

async function start() {
  state.base = local(modelDir);  // before anything is fetched
  setStatus('loading the LiteRT.js runtime');
  let t0 = performance.now();
  await loadLiteRt(new URL('node_modules/@litertjs/core/wasm/', location.href).href);
  state.runtimeMs = performance.now() - t0;
  setStatus(`reading ${modelDir}metadata.json`);
  const response = await fetch(new URL('metadata.json', state.base));
  if (!response.ok) throw new Error(`${modelDir}metadata.json: HTTP ${response.status}; pass ?model=DIR/ of a web export`);
  state.meta = await response.json();
  const variants = Object.keys(state.meta.files);
  const variant = params.get('variant') || variants[0];
  const views = state.meta.view_files ? Object.keys(state.meta.view_files) : [];
  const view = params.get('view') || views[0] || '';
  for (const v of variants) $('variant').add(new Option(v, v, false, v === variant));
  for (const v of views) $('view').add(new Option(v, v, false, v === view));
  $('view-label').hidden = !views.length;
  if (params.get('seed')) $('seed').value = params.get('seed');
  setStatus(`compiling ${variant}`);
  await select(variant, view);
  buildSliders();
  await redraw();
  setStatus('ready');
}

const onChange = async () => {
  await select($('variant').value, $('view').value);
  await redraw();
  setStatus('ready');
};
$('variant').addEventListener('change', () => run(onChange));
$('view').addEventListener('change', () => run(onChange));
$('sample').addEventListener('click', () => run(drawGrid));
for (const id of ['seed-a', 'seed-b']) $(id).addEventListener('change', () => run(async () => { await drawMix(); await drawStrips(); }));

Object.assign(hook, {
  latents: (seed, n) => Array.from(latents(seed, n, state.d)),  // no model: not queued
  interpolate: (seedA, seedB, amounts) => Array.from(mixed(
      latents(seedA, 1, state.d), latents(seedB, 1, state.d), amounts)),
  parts: () => parts(),
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
