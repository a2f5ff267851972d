// The page: load the model (with progress), take a photo from a file, a drop, a paste or the
// camera, segment it inside this tab, draw the results, redo only the post-processing when a
// control changes, and offer the crop and mask as PNG. Nothing is sent anywhere: after the model
// has loaded, the page makes no network request at all.

import { InvalidImageError, decodeImage } from "./image_file.js";
import { mirror, outcome, postprocess, resizeRgb, sigmoid, toBatch } from "./segment.js";

const $ = (id) => document.getElementById(id);
const STRIP_BYTES = 16 << 20; // a big photo is read 16 MB of pixels at a time
const TITLE_BAD_FILE = "This file cannot be used"; // app.py's title for InvalidImageError
const SOMETHING_WRONG = "Something went wrong while processing this photo. Please try another file.";

let config, ort, session;
let photo = null; // { bitmap, width, height, pixels, probability, flipped, small, name, zoom }
let result = null; // the current post-processing result (segment.js postprocess)
let job = 0; // the latest photo's number: an older one finishing late is dropped
let refines = 0; // the latest post-processing's number, likewise
const timings = {};

// ------------------------------------------------------------------ start-up

async function browserCanRun() {
  if (typeof WebAssembly !== "object" || typeof createImageBitmap !== "function" || typeof fetch !== "function") return false;
  // WebAssembly SIMD (ONNX Runtime Web needs it): a module using i8x16.popcnt must validate
  return WebAssembly.validate(new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0, 10, 10, 1, 8,
    0, 65, 0, 253, 15, 253, 98, 11]));
}

function setState(state, text) {
  document.body.dataset.state = state;
  if (text !== undefined) $("status-text").textContent = text;
  const ready = state === "ready";
  for (const id of ["file", "capture", "camera"]) $(id).disabled = !ready;
}

/** A file of the page as bytes, reporting each chunk to ``onBytes`` (for the progress bar). */
async function download(path, onBytes) {
  const response = await fetch(path);
  if (!response.ok) throw new Error(`${path}: HTTP ${response.status}`);
  const reader = response.body.getReader();
  const chunks = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
    size += value.length;
    onBytes(value.length);
  }
  const bytes = new Uint8Array(size);
  let at = 0;
  for (const chunk of chunks) { bytes.set(chunk, at); at += chunk.length; }
  return bytes;
}

async function load() {
  if (!(await browserCanRun())) {
    setState("unsupported", "This browser cannot run the model: it lacks WebAssembly with SIMD, which any current " +
      "Chrome, Edge, Firefox or Safari has. Please update the browser or use another one. No photo was sent anywhere.");
    return;
  }
  try {
    config = await (await fetch("config.json")).json();
    initControls();
    const total = config.runtime.wasm_bytes + config.model.bytes;
    let loaded = 0;
    const progress = (n) => {
      loaded += n;
      $("progress").value = Math.min(1, loaded / total);
      $("status-text").textContent = `Loading the model: ${(loaded / 1e6).toFixed(1)} of ${(total / 1e6).toFixed(1)} MB…`;
    };
    const [module, wasm, model] = await Promise.all([
      import(`./${config.runtime.script}`), download(config.runtime.wasm, progress), download(config.model.file, progress)]);
    ort = module;
    ort.env.wasm.wasmBinary = wasm;
    ort.env.wasm.numThreads = self.crossOriginIsolated ? Math.min(4, navigator.hardwareConcurrency || 1) : 1;
    $("status-text").textContent = "Starting the model…";
    session = await ort.InferenceSession.create(model, { executionProviders: ["wasm"], graphOptimizationLevel: "all" });
    await runNetwork(new Uint8Array(config.input_size * config.input_size * 3)); // warm-up, so the first photo is not slower
  } catch (err) {
    console.error(err);
    setState("failed", `The model could not be started in this browser (${err.message || err}). ` +
      "Reload the page to try again, or use a current Chrome, Edge, Firefox or Safari.");
    return;
  }
  setState("ready", `Ready: the model (${config.model.precision}, ${config.input_size}x${config.input_size}) runs in this tab ` +
    `(WebAssembly, ${ort.env.wasm.numThreads} thread${ort.env.wasm.numThreads > 1 ? "s" : ""}). Photos stay on this device.`);
}

function initControls() {
  const o = config.options;
  $("threshold").value = o.threshold;
  $("margin").value = Math.round(o.margin * 100);
  document.querySelector(`input[name="crop-mode"][value="${o.crop_mode}"]`).checked = true;
  showControlValues();
}

// ------------------------------------------------------------------ the photo -> result

function options() {
  return {
    threshold: Number($("threshold").value),
    margin: Number($("margin").value) / 100,
    crop_mode: document.querySelector('input[name="crop-mode"]:checked').value,
    min_area_fraction: config.options.min_area_fraction,
    flip_average: config.options.flip_average,
    zoom_margin: config.options.zoom_margin,
  };
}

/** Rows of the photo's pixels (RGBA), read from the bitmap a strip at a time: never the whole
 * photo at once, so a 64-megapixel photo needs tens of MB, not a gigabyte. */
function pixelRows(bitmap) {
  const w = bitmap.width, h = bitmap.height;
  const stripRows = Math.max(1, Math.min(h, Math.floor(STRIP_BYTES / (w * 4))));
  const canvas = new OffscreenCanvas(w, stripRows);
  const ctx = canvas.getContext("2d", { willReadFrequently: true });
  ctx.imageSmoothingEnabled = false;
  let top = 0, rows = 0, data = null;
  const read = (y, n) => {
    ctx.fillStyle = "#000"; // transparent pixels count as black, as in image_io
    ctx.fillRect(0, 0, w, n);
    ctx.drawImage(bitmap, 0, y, w, n, 0, 0, w, n);
    return ctx.getImageData(0, 0, w, n).data;
  };
  const row = (y) => {
    if (y < top || y >= top + rows) { top = y; rows = Math.min(stripRows, h - y); data = read(top, rows); }
    return data.subarray((y - top) * w * 4, (y - top + 1) * w * 4);
  };
  const all = () => { // only for photos with a side below the working size (small by definition)
    const big = new OffscreenCanvas(w, h).getContext("2d", { willReadFrequently: true });
    big.fillStyle = "#000"; big.fillRect(0, 0, w, h); big.drawImage(bitmap, 0, 0);
    return big.getImageData(0, 0, w, h).data;
  };
  return { row, all };
}

/** ``pixels`` (pixelRows) restricted to ``box`` (x0, y0, x1, y1): the same { row, all } for the region. */
function regionRows(pixels, [x0, y0, x1, y1]) {
  const row = (y) => pixels.row(y0 + y).subarray(x0 * 4, x1 * 4);
  const all = () => {
    const w = x1 - x0, region = new Uint8Array(w * (y1 - y0) * 4);
    for (let y = 0; y < y1 - y0; y++) region.set(row(y), y * w * 4);
    return region;
  };
  return { row, all };
}

/** The network's probability for the working-size image and for its mirror image (mirrored back,
 * for the reliability score, as Segmenter.__call__ does), in one batch of two. */
async function runNetwork(small) {
  const size = config.input_size, n = 3 * size * size;
  const batch = new Float32Array(2 * n);
  batch.set(toBatch(small, size));
  batch.set(toBatch(mirror(small, size, 3), size), n);
  const input = new ort.Tensor("float32", batch, [2, 3, size, size]);
  const output = await session.run({ [session.inputNames[0]]: input });
  const both = sigmoid(output[session.outputNames[0]].data);
  return { probability: both.subarray(0, size * size), flipped: mirror(both.subarray(size * size), size) };
}

/** One photo from a file (or a camera frame) through the whole pipeline to the page. */
async function segment(source, name) {
  if (document.body.dataset.state !== "ready" && document.body.dataset.state !== "busy") return;
  const mine = ++job;
  clearResults();
  setState("busy", "Working on the photo…");
  const start = performance.now();
  try {
    const bitmap = source instanceof Blob ? (await decodeImage(source, config.limits)).bitmap : source;
    const decoded = performance.now();
    const pixels = pixelRows(bitmap);
    const small = resizeRgb(pixels.row, pixels.all, bitmap.width, bitmap.height, config.input_size, 4);
    const resized = performance.now();
    const { probability, flipped } = await runNetwork(small);
    const networked = performance.now();
    if (mine !== job) { bitmap.close(); return; } // a newer photo came in meanwhile
    photo = { bitmap, width: bitmap.width, height: bitmap.height, pixels, probability, flipped, small, name, zoom: null };
    Object.assign(timings, { decode: decoded - start, resize: resized - decoded, network: networked - resized });
    await refine(start);
    if (mine !== job) return; // a newer photo came in during the second look: its own job says when it is ready
    setState("ready", "Ready. Photos stay on this device.");
  } catch (err) {
    if (mine !== job) return;
    if (!(err instanceof InvalidImageError)) console.error(err);
    showError(err instanceof InvalidImageError ? err.message : SOMETHING_WRONG);
    setState("ready", "Ready. Photos stay on this device.");
  }
}

/** Mask, box and crop again from the kept probability maps (a control changed), then draw. The second
 * look's maps are kept too and the network runs again only when its region changes. */
async function refine(start = performance.now()) {
  if (!photo) return;
  const mine = ++refines, shown = photo;
  const t0 = performance.now(), opts = options(); // both calls below with the controls as they were now
  const again = (earlier) => postprocess(shown.probability, config.input_size, shown.width, shown.height, opts,
    shown.flipped, shown.small, config.quality, shown.zoom, earlier);
  let next = again(null), zoomTime = 0; // 0: this refine reused the kept second look (or had none)
  if (next.zoomBox && !next.zoomed) {
    const z0 = performance.now();
    const [x0, y0, x1, y1] = next.zoomBox;
    const { row, all } = regionRows(shown.pixels, next.zoomBox);
    const small = resizeRgb(row, all, x1 - x0, y1 - y0, config.input_size, 4);
    const zoom = { box: next.zoomBox, ...(await runNetwork(small)) };
    if (mine !== refines || photo !== shown) return; // a newer control value or photo came in meanwhile
    shown.zoom = zoom; // only the latest refine's maps are kept (a stale one could overwrite a newer region's)
    zoomTime = performance.now() - z0;
    next = again(next); // the first look as it was: only the second look's part is new
  }
  result = next;
  const t1 = performance.now();
  draw();
  const t2 = performance.now();
  Object.assign(timings, { zoom: zoomTime, postprocess: t1 - t0, draw: t2 - t1, total: t2 - start });
  describe(performance.now() - start);
  $("download-crop").disabled = !result.found;
  $("download-mask").disabled = false;
}

// ------------------------------------------------------------------ drawing

/** The size that fits ``side`` (app.py's DISPLAY_SIDE), never larger than the image. */
function fit(w, h, side = config.display_side) {
  const scale = Math.min(1, side / Math.max(w, h));
  return [Math.max(1, Math.round(w * scale)), Math.max(1, Math.round(h * scale))];
}

/** The full-size mask sampled at a smaller w x h (nearest pixel), for the pictures on the page. */
function sampleMask(x0, y0, sw, sh, w, h) {
  const out = new Uint8Array(w * h), { mask, width } = result;
  for (let y = 0; y < h; y++) {
    const sy = y0 + Math.min(sh - 1, Math.floor((y + 0.5) * sh / h));
    for (let x = 0; x < w; x++) out[y * w + x] = mask[sy * width + x0 + Math.min(sw - 1, Math.floor((x + 0.5) * sw / w))];
  }
  return out;
}

function canvasOf(id, w, h) {
  const canvas = $(id);
  canvas.width = w; canvas.height = h; canvas.hidden = false;
  const ctx = canvas.getContext("2d", { willReadFrequently: true });
  ctx.imageSmoothingQuality = "high";
  return ctx;
}

function draw() {
  const { width: W, height: H } = photo;
  const [w, h] = fit(W, H);
  canvasOf("photo", w, h).drawImage(photo.bitmap, 0, 0, w, h);
  $("drop-hint").hidden = true;
  const small = sampleMask(0, 0, W, H, w, h);
  // the photo with the cervix tinted and outlined (render.overlay's colours)
  const ctx = canvasOf("overlay", w, h);
  ctx.drawImage(photo.bitmap, 0, 0, w, h);
  const image = ctx.getImageData(0, 0, w, h), px = image.data;
  const edge = outline(small, w, h, Math.max(2, Math.round(Math.max(w, h) / 250)));
  for (let i = 0; i < w * h; i++) {
    if (edge[i]) { px[i * 4] = 0; px[i * 4 + 1] = 255; px[i * 4 + 2] = 0; }
    else if (small[i]) { px[i * 4] *= 0.75; px[i * 4 + 1] = px[i * 4 + 1] * 0.75 + 50; px[i * 4 + 2] = px[i * 4 + 2] * 0.75 + 20; }
  }
  ctx.putImageData(image, 0, 0);
  putMask(canvasOf("mask", w, h), small, w, h);
  if (result.found) {
    const [x0, y0, x1, y1] = result.cropBox;
    const [cw, ch] = fit(x1 - x0, y1 - y0);
    const crop = canvasOf("crop", cw, ch);
    crop.drawImage(photo.bitmap, x0, y0, x1 - x0, y1 - y0, 0, 0, cw, ch);
    if (result.options.crop_mode === "masked") blackOutside(crop, sampleMask(x0, y0, x1 - x0, y1 - y0, cw, ch), cw, ch);
  }
}

/** Mask pixels within ``thickness`` of the mask's border (the outline drawn on the overlay). */
function outline(mask, w, h, thickness) {
  const border = new Uint8Array(w * h), r = Math.floor(thickness / 2);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const i = y * w + x;
      if (mask[i] && (x === 0 || y === 0 || x === w - 1 || y === h - 1 || !mask[i - 1] || !mask[i + 1] || !mask[i - w] || !mask[i + w])) border[i] = 1;
    }
  }
  const grow = (src, step, n, count) => { // max filter of radius r along rows (step 1) or columns (step w)
    const out = new Uint8Array(src.length);
    for (let i = 0; i < src.length; i++) {
      if (!src[i]) continue;
      const pos = step === 1 ? i % w : Math.floor(i / w);
      for (let d = -r; d <= r; d++) if (pos + d >= 0 && pos + d < count) out[i + d * step] = 1;
    }
    return out;
  };
  return grow(grow(border, 1, r, w), w, r, h);
}

function putMask(ctx, mask, w, h) {
  const image = ctx.createImageData(w, h);
  for (let i = 0; i < w * h; i++) {
    const v = mask[i] ? 255 : 0;
    image.data[i * 4] = v; image.data[i * 4 + 1] = v; image.data[i * 4 + 2] = v; image.data[i * 4 + 3] = 255;
  }
  ctx.putImageData(image, 0, 0);
}

function blackOutside(ctx, mask, w, h) {
  const image = ctx.getImageData(0, 0, w, h);
  for (let i = 0; i < w * h; i++) if (!mask[i]) { image.data[i * 4] = 0; image.data[i * 4 + 1] = 0; image.data[i * 4 + 2] = 0; }
  ctx.putImageData(image, 0, 0);
}

function clearResults() {
  photo?.bitmap.close(); // the decoded pixels of the previous photo are let go at once
  photo = null; result = null;
  for (const id of ["photo", "overlay", "mask", "crop"]) $(id).hidden = true;
  $("drop-hint").hidden = false;
  $("download-crop").disabled = true;
  $("download-mask").disabled = true;
  $("info").removeAttribute("data-outcome");
  $("info").replaceChildren(paragraph("Working on the photo…"));
}

// ------------------------------------------------------------------ words

function paragraph(text) {
  const p = document.createElement("p");
  p.textContent = text;
  return p;
}

function heading(text) {
  const h = document.createElement("h2");
  h.textContent = text;
  return h;
}

function item(label, text) {
  const li = document.createElement("li");
  const b = document.createElement("strong");
  b.textContent = `${label}:`;
  li.append(b, ` ${text}`);
  return li;
}

const percent = (x) => `${Math.round(x * 100)}%`;

/** The result in words: app.py's describe() (same headings and sentences), and "Check this result"
 * when the package's check says so (low reliability or a photo-quality flag, in quality.py's words). */
function describe(ms) {
  const size = `${photo.width}x${photo.height}`;
  const kind = outcome(result);
  const info = $("info");
  info.dataset.outcome = kind;
  const time = item("Processing time", `${Math.round(ms)} ms`);
  time.id = "processing-time";
  if (kind === "none") {
    info.replaceChildren(heading("No cervix found"),
      paragraph(`The model found no cervix in this photo (${size}), so no crop is offered. Check that it is a ` +
        "colposcopy view of the cervix; with a lower threshold the model may still outline a faint candidate."),
      list(time));
    return;
  }
  const [x0, y0, x1, y1] = result.box;
  const rules = config.quality;
  const lines = [
    item("Confidence", `${percent(result.confidence)} (mean probability inside the mask)`),
    item("Reliability", `${percent(result.reliability)} (confidence x agreement with the outline found in the ` +
      "mirrored photo)"),
    item("Area", `${percent(result.areaFraction)} of the photo; box x ${x0}-${x1}, y ${y0}-${y1} in a ${size} photo`),
    time,
  ];
  if (kind === "found") {
    info.replaceChildren(heading("Cervix found"), list(...lines));
    return;
  }
  const reasons = result.flags.map((flag) => rules.flag_text[flag]);
  if (result.reliability < rules.reliability_min) {
    reasons.unshift(`the reliability is low (${percent(result.reliability)}, below ${percent(rules.reliability_min)})`);
  }
  info.replaceChildren(heading("Check this result"),
    paragraph(`A cervix was found, but check the outline by eye before using the crop: ${reasons.join("; ")}.`),
    list(...lines));
}

function list(...items) {
  const ul = document.createElement("ul");
  ul.append(...items);
  return ul;
}

function showError(message) {
  clearResults();
  const info = $("info");
  info.dataset.outcome = "error";
  info.replaceChildren(heading(TITLE_BAD_FILE), paragraph(message));
}

function showControlValues() {
  $("threshold-value").textContent = Number($("threshold").value).toFixed(2);
  $("margin-value").textContent = $("margin").value;
}

// ------------------------------------------------------------------ downloads

function fullSizeCanvas(w, h) {
  const canvas = document.createElement("canvas");
  canvas.width = w; canvas.height = h;
  return canvas;
}

/** Save a canvas as a PNG file (a fresh encoding of pixels: no metadata of the photo). */
function save(canvas, name) {
  canvas.toBlob((blob) => {
    const url = URL.createObjectURL(blob);
    const a = document.createElement("a");
    a.href = url; a.download = name;
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 60_000);
  }, "image/png");
}

function downloadMask() {
  if (!result) return;
  const canvas = fullSizeCanvas(result.width, result.height);
  putMask(canvas.getContext("2d"), result.mask, result.width, result.height);
  save(canvas, "cervix_mask.png");
}

function downloadCrop() {
  if (!result?.found) return;
  const [x0, y0, x1, y1] = result.cropBox, w = x1 - x0, h = y1 - y0;
  const canvas = fullSizeCanvas(w, h);
  const ctx = canvas.getContext("2d", { willReadFrequently: true });
  ctx.fillStyle = "#000"; ctx.fillRect(0, 0, w, h);
  ctx.drawImage(photo.bitmap, x0, y0, w, h, 0, 0, w, h);
  if (result.options.crop_mode === "masked") {
    const mask = new Uint8Array(w * h);
    for (let y = 0; y < h; y++) mask.set(result.mask.subarray((y0 + y) * result.width + x0, (y0 + y) * result.width + x1), y * w);
    blackOutside(ctx, mask, w, h);
  }
  save(canvas, "cervix_crop.png");
}

// ------------------------------------------------------------------ camera

let stream = null;

async function openCamera() {
  if (!navigator.mediaDevices?.getUserMedia || matchMedia("(pointer: coarse)").matches) {
    $("capture").click(); // phones: the system camera, full resolution, through a file input
    return;
  }
  try {
    stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment", width: { ideal: 4096 } } });
  } catch {
    showError("The camera could not be opened (permission refused or no camera). Choose a file instead.");
    return;
  }
  $("video").srcObject = stream;
  await $("video").play();
  $("camera-dialog").showModal();
}

function closeCamera() {
  stream?.getTracks().forEach((track) => track.stop());
  stream = null;
  $("video").srcObject = null;
  $("camera-dialog").close();
}

async function snap() {
  const frame = await createImageBitmap($("video"));
  closeCamera();
  segment(frame, "camera");
}

// ------------------------------------------------------------------ wiring

function takeFile(files) {
  const file = files?.[0];
  if (file) segment(file, file.name);
}

let pending = false;
function controlsChanged() {
  showControlValues();
  if (pending) return;
  pending = true;
  requestAnimationFrame(() => {
    pending = false;
    refine().catch((err) => { console.error(err); showError(SOMETHING_WRONG); });
  });
}

$("file").addEventListener("change", (e) => { takeFile(e.target.files); e.target.value = ""; });
$("capture").addEventListener("change", (e) => { takeFile(e.target.files); e.target.value = ""; });
$("camera").addEventListener("click", openCamera);
$("snap").addEventListener("click", snap);
$("camera-close").addEventListener("click", closeCamera);
$("camera-dialog").addEventListener("cancel", closeCamera);
const panel = $("photo-panel");
panel.addEventListener("dragover", (e) => { e.preventDefault(); panel.classList.add("dragging"); });
panel.addEventListener("dragleave", () => panel.classList.remove("dragging"));
panel.addEventListener("drop", (e) => { e.preventDefault(); panel.classList.remove("dragging"); takeFile(e.dataTransfer.files); });
document.addEventListener("paste", (e) => takeFile([...e.clipboardData.files].filter((f) => f.type.startsWith("image/"))));
for (const id of ["threshold", "margin"]) $(id).addEventListener("input", controlsChanged);
for (const radio of document.querySelectorAll('input[name="crop-mode"]')) radio.addEventListener("change", controlsChanged);
$("download-crop").addEventListener("click", downloadCrop);
$("download-mask").addEventListener("click", downloadMask);

// For tests and measurements (read only; nothing here sends anything anywhere).
window.cervixUnet = {
  get state() { return document.body.dataset.state; },
  result: () => result && {
    found: result.found, confidence: result.confidence, box: result.box, cropBox: result.cropBox,
    width: result.width, height: result.height, areaFraction: result.areaFraction, outcome: outcome(result),
    reliability: result.reliability, flags: result.flags, check: result.check, quality: result.quality,
    zoomBox: result.zoomBox, zoomed: result.zoomed, timings: { ...timings },
  },
  networkInput: () => photo && Array.from(photo.small),
  probability: () => photo && Array.from(photo.probability),
  flipped: () => photo && Array.from(photo.flipped),
};

load();
