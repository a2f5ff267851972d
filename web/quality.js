// cervix_unet/quality.py in the browser: photo-quality measures and flags on the network's
// working-size view, and the agreement with the mirrored photo's outline (the reliability score).
// Thresholds and words come from config.json ("quality"), written from that module.

/** cv2.cvtColor(RGB2GRAY) for uint8, in OpenCV's 15-bit fixed point. */
function grey(rgb, n) {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = (rgb[i * 3] * 9798 + rgb[i * 3 + 1] * 19235 + rgb[i * 3 + 2] * 3735 + 16384) >> 15;
  return out;
}

/** cv2.Laplacian(box, CV_32F) (3x3 cross, borders reflected without repeating the edge): its variance. */
function laplacianVariance(g, size, x0, y0, x1, y1) {
  const w = x1 - x0, h = y1 - y0;
  if (Math.min(w, h) < 3) return 0;
  const at = (x, y) => {
    const rx = x < 0 ? -x : x >= w ? 2 * w - 2 - x : x;
    const ry = y < 0 ? -y : y >= h ? 2 * h - 2 - y : y;
    return g[(y0 + ry) * size + x0 + rx];
  };
  let sum = 0, sum2 = 0;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const v = at(x - 1, y) + at(x + 1, y) + at(x, y - 1) + at(x, y + 1) - 4 * at(x, y);
      sum += v; sum2 += v * v;
    }
  }
  const mean = sum / (w * h);
  return sum2 / (w * h) - mean * mean;
}

/** quality.quality_measures: sharpness, glare, brightness, border and area of the cervix region of
 * the working-size RGB image ``small`` and its mask (the whole frame when the mask is empty). */
export function qualityMeasures(small, mask, size) {
  const n = size * size;
  let any = false;
  for (let i = 0; i < n; i++) if (mask[i]) { any = true; break; }
  const inRegion = (i) => !any || mask[i] === 1;
  const g = grey(small, n);
  let x0 = size, y0 = size, x1 = -1, y1 = -1, count = 0, glare = 0, brightness = 0, outline = 0, onEdge = 0;
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const i = y * size + x;
      if (!inRegion(i)) continue;
      x0 = Math.min(x0, x); y0 = Math.min(y0, y); x1 = Math.max(x1, x); y1 = Math.max(y1, y);
      count++;
      brightness += g[i];
      // cv2's HSV for uint8: V = max, S = 255 * (max - min) / max in its 12-bit table
      const r = small[i * 3], gr = small[i * 3 + 1], b = small[i * 3 + 2];
      const v = Math.max(r, gr, b), diff = v - Math.min(r, gr, b);
      const s = v ? (diff * Math.round((255 << 12) / v) + 2048) >> 12 : 0;
      if (v >= 240 && s <= 40) glare++;
      // the outline: region pixels with a neighbour (of 8) outside the region or outside the photo
      let inside = true;
      for (let dy = -1; dy <= 1 && inside; dy++) {
        for (let dx = -1; dx <= 1; dx++) {
          const xx = x + dx, yy = y + dy;
          if (xx < 0 || yy < 0 || xx >= size || yy >= size || !inRegion(yy * size + xx)) { inside = false; break; }
        }
      }
      if (!inside) {
        outline++;
        if (x === 0 || y === 0 || x === size - 1 || y === size - 1) onEdge++;
      }
    }
  }
  let area = 0;
  for (let i = 0; i < n; i++) area += mask[i];
  return {
    sharpness: laplacianVariance(g, size, x0, y0, x1 + 1, y1 + 1),
    glare: glare / count,
    brightness: brightness / count,
    border: any ? onEdge / Math.max(1, outline) : 0,
    area: area / n,
  };
}

/** quality.quality_flags: the names of the quality problems the measures show (keys of flag_text). */
export function qualityFlags(m, found, rules) {
  const flags = [];
  if (m.sharpness < rules.blur_max_sharpness) flags.push("blurred");
  if (found && m.glare > rules.glare_min_fraction) flags.push("glare");
  if (m.brightness < rules.dark_max_brightness) flags.push("under-exposed");
  if (m.brightness > rules.bright_min_brightness) flags.push("over-exposed");
  if (found && m.border > rules.cut_min_border_fraction) flags.push("cut by the frame");
  if (found && m.area < rules.small_max_area) flags.push("small");
  return flags;
}

/** quality.flip_agreement: Dice of the mask and the mirrored photo's mask (1 when both are empty). */
export function flipAgreement(mask, flippedMask) {
  let a = 0, b = 0, both = 0;
  for (let i = 0; i < mask.length; i++) { a += mask[i]; b += flippedMask[i]; both += mask[i] & flippedMask[i]; }
  return a + b === 0 ? 1 : (2 * both) / (a + b);
}
