// The Python pipeline's arithmetic, in the browser: photo pixels -> network input -> probability
// -> clean mask (threshold, largest component, holes) -> mask at the photo's size -> box -> crop box.
//
// Each function mirrors one in cervix_unet/ (named beside it) and reproduces OpenCV's integer and
// float32 steps where the Python side uses OpenCV, so that the same photo gives the same mask.
// No DOM here: plain typed arrays in, typed arrays out (page.js draws; image_file.js decodes).

import { flipAgreement, qualityFlags, qualityMeasures } from "./quality.js";

/** Python's round(): halves go to the even neighbour (also OpenCV's cvRound). */
export function roundHalfEven(x) {
  const r = Math.round(x);
  return r - x === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

const f32 = Math.fround;

// ---------------------------------------------------------------- preprocess.resize_rgb

/** OpenCV's computeResizeAreaTab, as (source index, destination index, weight) per source pixel
 * (a source pixel falls into at most two destination cells when shrinking). */
function areaTable(ssize, dsize) {
  const scale = 1 / (dsize / ssize); // OpenCV: scale = 1 / inv_scale
  const src = [], dst = [], alpha = [];
  for (let dx = 0; dx < dsize; dx++) {
    const fsx1 = dx * scale, fsx2 = fsx1 + scale;
    const cellWidth = Math.min(scale, ssize - fsx1);
    let sx1 = Math.ceil(fsx1), sx2 = Math.floor(fsx2);
    sx2 = Math.min(sx2, ssize - 1);
    sx1 = Math.min(sx1, sx2);
    if (sx1 - fsx1 > 1e-3) { src.push(sx1 - 1); dst.push(dx); alpha.push(f32((sx1 - fsx1) / cellWidth)); }
    for (let sx = sx1; sx < sx2; sx++) { src.push(sx); dst.push(dx); alpha.push(f32(1 / cellWidth)); }
    if (fsx2 - sx2 > 1e-3) {
      src.push(sx2); dst.push(dx); alpha.push(f32(Math.min(Math.min(fsx2 - sx2, 1), cellWidth) / cellWidth));
    }
  }
  return { src: Int32Array.from(src), dst: Int32Array.from(dst), alpha: Float32Array.from(alpha) };
}

/** cv2.resize(..., interpolation=cv2.INTER_AREA) for shrinking a uint8 image with 3 channels.
 * ``row(y)`` gives source row y (pixels ``stride`` bytes apart, RGB first); rows are asked for
 * in order, so a caller can stream a large photo strip by strip. Returns dw x dh x 3 uint8. */
export function areaResize(row, sw, sh, dw, dh, stride = 3) {
  const out = new Uint8Array(dw * dh * 3);
  const scaleX = sw / dw, scaleY = sh / dh;
  if (Number.isInteger(scaleX) && Number.isInteger(scaleY)) return areaFast(row, sw, dw, dh, scaleX, scaleY, stride, out);
  // OpenCV's resizeArea_<uchar, float>: float32 sums, rounded half to even at the end
  const xt = areaTable(sw, dw), yt = areaTable(sh, dh);
  const buf = new Float32Array(dw * 3), sum = new Float32Array(dw * 3);
  let prevDy = yt.dst[0];
  for (let j = 0; j < yt.src.length; j++) {
    const beta = yt.alpha[j], dy = yt.dst[j], S = row(yt.src[j]);
    buf.fill(0);
    for (let k = 0; k < xt.src.length; k++) {
      const s = xt.src[k] * stride, d = xt.dst[k] * 3, a = xt.alpha[k];
      buf[d] += f32(S[s] * a);
      buf[d + 1] += f32(S[s + 1] * a);
      buf[d + 2] += f32(S[s + 2] * a);
    }
    if (dy !== prevDy) {
      const o = prevDy * dw * 3;
      for (let i = 0; i < buf.length; i++) { out[o + i] = roundHalfEven(sum[i]); sum[i] = f32(beta * buf[i]); }
      prevDy = dy;
    } else {
      for (let i = 0; i < buf.length; i++) sum[i] += f32(beta * buf[i]);
    }
  }
  const o = prevDy * dw * 3;
  for (let i = 0; i < sum.length; i++) out[o + i] = roundHalfEven(sum[i]);
  return out;
}

/** OpenCV's integer-factor area path (resizeAreaFast): integer sums; 2x2 rounds half up. */
function areaFast(row, sw, dw, dh, kx, ky, stride, out) {
  const scale = f32(1 / (kx * ky));
  const sums = new Int32Array(dw * 3);
  for (let dy = 0; dy < dh; dy++) {
    sums.fill(0);
    for (let r = 0; r < ky; r++) {
      const S = row(dy * ky + r);
      for (let dx = 0; dx < dw; dx++) {
        for (let c = 0; c < kx; c++) {
          const s = (dx * kx + c) * stride;
          sums[dx * 3] += S[s]; sums[dx * 3 + 1] += S[s + 1]; sums[dx * 3 + 2] += S[s + 2];
        }
      }
    }
    const o = dy * dw * 3;
    for (let i = 0; i < sums.length; i++) {
      out[o + i] = kx === 2 && ky === 2 ? (sums[i] + 2) >> 2 : Math.min(255, roundHalfEven(f32(sums[i] * scale)));
    }
  }
  return out;
}

/** OpenCV's INTER_LINEAR coefficients along one axis: the two source indices and 11-bit weights.
 * Horizontally OpenCV clamps the position at the borders; vertically it keeps the weights and
 * clamps the rows (``vertical``). */
function linearTable(ssize, dsize, vertical) {
  const scale = 1 / (dsize / ssize);
  const i0 = new Int32Array(dsize), i1 = new Int32Array(dsize), a0 = new Int32Array(dsize), a1 = new Int32Array(dsize);
  for (let d = 0; d < dsize; d++) {
    let f = f32((d + 0.5) * scale - 0.5);
    let s = Math.floor(f);
    f = f32(f - s);
    if (!vertical && s < 0) { f = 0; s = 0; }
    if (!vertical && s >= ssize - 1) { f = 0; s = ssize - 1; }
    i0[d] = Math.min(Math.max(s, 0), ssize - 1); i1[d] = Math.min(Math.max(s + 1, 0), ssize - 1);
    a0[d] = roundHalfEven(f32(1 - f) * 2048); a1[d] = roundHalfEven(f * 2048);
  }
  return { i0, i1, a0, a1 };
}

/** cv2.resize(..., interpolation=cv2.INTER_LINEAR) of a uint8 image with ``cn`` channels, in
 * OpenCV's fixed point: 11-bit weights and the rounding of its SIMD vertical pass (measured
 * bit-exact against opencv-python 5.0 for every row width, tails included). */
export function linearResize(src, sw, sh, dw, dh, cn) {
  const xt = linearTable(sw, dw, false), yt = linearTable(sh, dh, true);
  const width = dw * cn;
  const out = new Uint8Array(dw * dh * cn);
  const rows = new Map(); // horizontally interpolated source rows, by index
  const hrow = (sy) => {
    let r = rows.get(sy);
    if (!r) {
      r = new Int32Array(width);
      const o = sy * sw * cn;
      for (let dx = 0; dx < dw; dx++) {
        const s0 = o + xt.i0[dx] * cn, s1 = o + xt.i1[dx] * cn, a0 = xt.a0[dx], a1 = xt.a1[dx];
        for (let c = 0; c < cn; c++) r[dx * cn + c] = src[s0 + c] * a0 + src[s1 + c] * a1;
      }
      if (rows.size > 4) rows.delete(rows.keys().next().value);
      rows.set(sy, r);
    }
    return r;
  };
  for (let dy = 0; dy < dh; dy++) {
    const r0 = hrow(yt.i0[dy]), r1 = hrow(yt.i1[dy]), b0 = yt.a0[dy], b1 = yt.a1[dy];
    const o = dy * width;
    for (let i = 0; i < width; i++) {
      const v = (((r0[i] >> 4) * b0) >> 16) + (((r1[i] >> 4) * b1) >> 16);
      out[o + i] = Math.max(0, Math.min(255, (v + 2) >> 2));
    }
  }
  return out;
}

/** preprocess.resize_rgb: the whole photo squashed to size x size (area averaging, with an
 * integer-factor area step first for big photos; bilinear when a side is below ``size``).
 * ``row(y)`` as for areaResize; ``all()`` gives the whole photo (only needed for tiny photos). */
export function resizeRgb(row, all, w, h, size, stride) {
  if (Math.min(w, h) < size) return linearResize(packRgb(all(), w * h, stride), w, h, size, size, 3);
  while (Math.min(w, h) >= 4 * size) { // camera photos: halved first (2x2 area, even sizes), as the package does
    const hw = Math.floor(w / 2), hh = Math.floor(h / 2);
    const half = areaResize(row, 2 * hw, 2 * hh, hw, hh, stride);
    row = (y) => half.subarray(y * hw * 3, (y + 1) * hw * 3);
    w = hw; h = hh; stride = 3;
  }
  const k = Math.floor(Math.min(w, h) / size);
  if (k >= 2) {
    const sw = Math.floor(w / k), sh = Math.floor(h / k);
    const step = areaResize(row, w, h, sw, sh, stride);
    return areaResize((y) => step.subarray(y * sw * 3, (y + 1) * sw * 3), sw, sh, size, size, 3);
  }
  return areaResize(row, w, h, size, size, stride);
}

function packRgb(pixels, count, stride) {
  if (stride === 3) return pixels;
  const rgb = new Uint8Array(count * 3);
  for (let i = 0; i < count; i++) {
    rgb[i * 3] = pixels[i * stride]; rgb[i * 3 + 1] = pixels[i * stride + 1]; rgb[i * 3 + 2] = pixels[i * stride + 2];
  }
  return rgb;
}

/** preprocess.to_batch: HxWx3 uint8 -> 1x3xHxW float32 in [0, 1]. */
export function toBatch(rgb, size) {
  const n = size * size, out = new Float32Array(3 * n), scale = f32(1 / 255);
  for (let i = 0; i < n; i++) {
    out[i] = rgb[i * 3] * scale; out[n + i] = rgb[i * 3 + 1] * scale; out[2 * n + i] = rgb[i * 3 + 2] * scale;
  }
  return out;
}

/** The working-size image mirrored left to right (``small[:, ::-1]``), or a size x size map mirrored. */
export function mirror(values, size, channels = 1) {
  const out = new values.constructor(values.length);
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const from = (y * size + x) * channels, to = (y * size + size - 1 - x) * channels;
      for (let c = 0; c < channels; c++) out[to + c] = values[from + c];
    }
  }
  return out;
}

/** pipeline.Segmenter.run_network's last step: logits -> probability (float32). */
export function sigmoid(logits) {
  const p = new Float32Array(logits.length);
  for (let i = 0; i < logits.length; i++) p[i] = 1 / f32(1 + f32(Math.exp(-logits[i])));
  return p;
}

// ---------------------------------------------------------------- postprocess

/** postprocess.largest_component: the largest 8-connected component (first in scan order on a tie). */
export function largestComponent(mask, w, h) {
  const label = new Int32Array(w * h), stack = new Int32Array(w * h);
  let best = 0, bestArea = 0, next = 0;
  for (let start = 0; start < w * h; start++) {
    if (!mask[start] || label[start]) continue;
    next += 1;
    let top = 0, area = 0;
    stack[top++] = start; label[start] = next;
    while (top) {
      const p = stack[--top]; area++;
      const x = p % w, y = (p - x) / w;
      for (let dy = -1; dy <= 1; dy++) {
        const yy = y + dy;
        if (yy < 0 || yy >= h) continue;
        for (let dx = -1; dx <= 1; dx++) {
          const xx = x + dx;
          if (xx < 0 || xx >= w) continue;
          const q = yy * w + xx;
          if (mask[q] && !label[q]) { label[q] = next; stack[top++] = q; }
        }
      }
    }
    if (area > bestArea) { best = next; bestArea = area; }
  }
  const out = new Uint8Array(w * h);
  if (best) for (let i = 0; i < w * h; i++) out[i] = label[i] === best ? 1 : 0;
  return out;
}

/** postprocess.fill_holes: background not 4-connected to the border becomes mask. */
export function fillHoles(mask, w, h) {
  const outside = new Uint8Array(w * h), stack = new Int32Array(w * h);
  let top = 0;
  const push = (p) => { if (!mask[p] && !outside[p]) { outside[p] = 1; stack[top++] = p; } };
  for (let x = 0; x < w; x++) { push(x); push((h - 1) * w + x); }
  for (let y = 0; y < h; y++) { push(y * w); push(y * w + w - 1); }
  while (top) {
    const p = stack[--top], x = p % w;
    if (x > 0) push(p - 1);
    if (x < w - 1) push(p + 1);
    if (p >= w) push(p - w);
    if (p < (h - 1) * w) push(p + w);
  }
  const out = new Uint8Array(w * h);
  for (let i = 0; i < w * h; i++) out[i] = outside[i] ? 0 : 1;
  return out;
}

/** postprocess.clean_mask: threshold, largest component, holes filled. */
export function cleanMask(probability, size, threshold) {
  const t = f32(threshold), raw = new Uint8Array(size * size);
  for (let i = 0; i < raw.length; i++) raw[i] = probability[i] > t ? 1 : 0;
  return fillHoles(largestComponent(raw, size, size), size, size);
}

/** postprocess.clean_probability: the map kept on the cleaned mask and its 1-pixel ring, 0 elsewhere,
 * 1 in filled holes. Returns it with the mask (size x size). */
export function cleanProbability(probability, size, threshold) {
  const t = f32(threshold), n = size * size;
  const mask = cleanMask(probability, size, threshold);
  const cleaned = new Float32Array(n);
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      let near = 0;
      for (let dy = -1; dy <= 1 && !near; dy++) {
        for (let dx = -1; dx <= 1; dx++) {
          const yy = y + dy, xx = x + dx;
          if (yy >= 0 && yy < size && xx >= 0 && xx < size && mask[yy * size + xx]) { near = 1; break; }
        }
      }
      const i = y * size + x;
      cleaned[i] = near ? probability[i] : 0;
      if (mask[i] && !(probability[i] > t)) cleaned[i] = 1;
    }
  }
  return { cleaned, mask };
}

// ---------------------------------------------------------------- pipeline.Segmenter.postprocess

/** The cleaned map upsampled (8 bits, bilinear) to the photo's w x h and thresholded again. */
export function upsampleMask(cleaned, size, w, h, threshold) {
  const u8 = new Uint8Array(size * size);
  for (let i = 0; i < u8.length; i++) u8[i] = Math.trunc(f32(f32(cleaned[i] * 255) + 0.5));
  const level = roundHalfEven(threshold * 255);
  const up = linearResize(u8, size, size, w, h, 1);
  for (let i = 0; i < up.length; i++) up[i] = up[i] > level ? 1 : 0;
  return up;
}

/** crop.mask_box: tight box (x0, y0, x1, y1), x1/y1 exclusive, or null. */
export function maskBox(mask, w, h) {
  let x0 = w, y0 = h, x1 = -1, y1 = -1;
  for (let y = 0; y < h; y++) {
    const o = y * w;
    let first = -1, last = -1;
    for (let x = 0; x < w; x++) if (mask[o + x]) { if (first < 0) first = x; last = x; }
    if (first < 0) continue;
    if (y < y0) y0 = y;
    y1 = y;
    if (first < x0) x0 = first;
    if (last > x1) x1 = last;
  }
  return y1 < 0 ? null : [x0, y0, x1 + 1, y1 + 1];
}

/** crop.expand_box: grown by ``margin`` of its width and height on every side, within the photo. */
export function expandBox(box, margin, w, h) {
  const [x0, y0, x1, y1] = box;
  const dx = roundHalfEven((x1 - x0) * margin), dy = roundHalfEven((y1 - y0) * margin);
  return [Math.max(0, x0 - dx), Math.max(0, y0 - dy), Math.min(w, x1 + dx), Math.min(h, y1 + dy)];
}

/** Segmenter.postprocess without the pixels: mask at w x h, box, crop box, confidence, found, and the
 * reliability and quality flags. ``options`` as SegmentOptions (threshold, margin, crop_mode,
 * min_area_fraction, flip_average, zoom_margin); ``flipped``: the mirrored photo's map, mirrored back (null: the
 * reliability is the confidence alone); ``small``: the network's input; ``rules``: config.json's "quality".
 * The second look (zoom_margin): the result's ``zoomBox`` is the region it needs; ``zoom`` ({ box, probability,
 * flipped }: the network's maps of that region, as Segmenter.zoom_maps) is used when its box is that one
 * (``zoomed`` says so); without it the mask is the first look's and the caller runs the network and calls again,
 * passing the first call's result as ``earlier`` so that the first look (its full-size mask above all) is not redone. */
export function postprocess(probability, size, w, h, options, flipped, small, rules, zoom = null, earlier = null) {
  const { scores, cleaned, firstMask, firstCount, found } = earlier && earlier.firstLook.options === options
    && earlier.probability === probability ? earlier.firstLook : firstLook(probability, size, w, h, options, flipped);
  let mask = firstMask, count = firstCount;
  let zoomBox = null, zoomed = false, zoomReliability = null;
  if (found && options.zoom_margin !== null && options.zoom_margin !== undefined) {
    zoomBox = expandBox(maskBox(mask, w, h), options.zoom_margin, w, h);
    if (zoomBox.join() === [0, 0, w, h].join()) zoomBox = null; // the second look would see the first one's input
  }
  if (zoomBox && zoom && zoom.box.join() === zoomBox.join()) {
    zoomed = true;
    const [x0, y0, x1, y1] = zoomBox, zw = x1 - x0, zh = y1 - y0;
    const zoomScores = options.flip_average ? average(zoom.probability, zoom.flipped) : zoom.probability;
    const zoomCleaned = cleanProbability(zoomScores, size, options.threshold).cleaned;
    const zoomMask = upsampleMask(zoomCleaned, size, zw, zh, options.threshold);
    zoomReliability = lookScores(zoom.probability, zoom.flipped, zoomScores, zoomCleaned, size, options).reliability;
    let zoomCount = 0;
    for (let i = 0; i < zoomMask.length; i++) zoomCount += zoomMask[i];
    if (zoomCount >= options.min_area_fraction * mask.length) { // else the first look stands
      mask = new Uint8Array(w * h);
      for (let y = 0; y < zh; y++) mask.set(zoomMask.subarray(y * zw, (y + 1) * zw), (y0 + y) * w + x0);
      count = zoomCount;
    }
  }
  if (!found) mask = new Uint8Array(w * h); // the first look's mask stays as it was (an ``earlier`` result may hold it)
  const box = found ? maskBox(mask, w, h) : null;
  const cropBox = box ? expandBox(box, options.margin, w, h) : null;
  // the confidence and the quality flags judge the first look, at the whole photo's scale
  const first = found ? lookScores(probability, flipped, scores, cleaned, size, options) : null;
  const working = first ? first.outline : new Uint8Array(size * size);
  const confidence = first ? first.confidence : 0;
  let reliability = first ? first.reliability : 0;
  if (zoomReliability !== null) reliability = Math.sqrt(reliability * zoomReliability);
  const quality = small && rules ? qualityMeasures(small, working, size) : null;
  const flags = quality ? qualityFlags(quality, found, rules) : [];
  const check = Boolean(found && rules && (reliability < rules.reliability_min
    || flags.some((flag) => rules.check_flags.includes(flag))));
  return { mask, width: w, height: h, found, box, cropBox, confidence, areaFraction: found ? count / mask.length : 0,
    options, probability, size, reliability, flags, quality, check, zoomBox, zoomed,
    firstLook: { options, scores, cleaned, firstMask, firstCount, found } };
}

/** The first look of ``postprocess``: the map the mask is drawn from, its cleaned version, the mask at w x h
 * and whether it is large enough to be a cervix. */
function firstLook(probability, size, w, h, options, flipped) {
  const scores = options.flip_average && flipped ? average(probability, flipped) : probability;
  const { cleaned } = cleanProbability(scores, size, options.threshold);
  const firstMask = upsampleMask(cleaned, size, w, h, options.threshold);
  let firstCount = 0;
  for (let i = 0; i < firstMask.length; i++) firstCount += firstMask[i];
  return { scores, cleaned, firstMask, firstCount, found: firstCount >= options.min_area_fraction * firstMask.length };
}

/** pipeline.look_scores: the confidence (mean of ``scores`` inside the outline, ``cleaned`` above the threshold),
 * the reliability (the confidence times the agreement of the photo's and the mirrored photo's own outlines; 1
 * without the mirrored map) and the outline itself. */
function lookScores(probability, flipped, scores, cleaned, size, options) {
  const t = f32(options.threshold), outline = new Uint8Array(size * size);
  let total = 0, n = 0;
  for (let i = 0; i < cleaned.length; i++) if (cleaned[i] > t) { outline[i] = 1; total += scores[i]; n++; }
  const confidence = n ? total / n : 0;
  const own = scores !== probability ? cleanMask(probability, size, options.threshold) : outline;
  const agreement = flipped ? flipAgreement(own, cleanMask(flipped, size, options.threshold)) : 1;
  return { confidence, reliability: confidence * agreement, outline };
}

/** pipeline.mask_scores: the mean of the photo's and the mirrored photo's maps (float32, as numpy). */
function average(probability, flipped) {
  return probability.map((p, i) => Math.fround(p + flipped[i]) * 0.5);
}

// ---------------------------------------------------------------- outcome

/** What the page says about a result: "found", "check" (found, but a person should check it:
 * SegmentationResult.check, low reliability or a quality flag) or "none" (no cervix found). */
export function outcome(result) {
  if (!result.found) return "none";
  return result.check ? "check" : "found";
}
