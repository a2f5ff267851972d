// A file the person chose -> an upright bitmap of the photo, or InvalidImageError with the words
// of cervix_unet/image_io.py. As there, the size is read from the header and checked before any
// decoding (a 60000x60000 PNG is refused without allocating it), and EXIF orientation is applied.

export class InvalidImageError extends Error {
  constructor(message) {
    super(message);
    this.name = "InvalidImageError";
  }
}

// The browser reads what its decoders read; TIFF, GIF, AVIF and HEIC (which the Python package
// reads) are not all among them.
const READABLE = "JPEG, PNG, BMP or WebP";
export const MESSAGES = {
  empty: "The file is empty.",
  notImage: `This file is not an image that can be read (use ${READABLE}).`,
  tiff: `This browser cannot read TIFF files (use ${READABLE}).`,
  truncated: "The image could not be decoded: it is truncated or corrupt.",
  tooLarge: (w, h, max) =>
    `The image is too large (${w}x${h} = ${(w * h / 1e6).toFixed(0)} megapixels; ` +
    `the limit is ${(max / 1e6).toFixed(0)}). It was refused before decoding. Please use a smaller photograph.`,
  tooSmall: (w, h, min) => `The image is too small (${w}x${h}); it needs at least ${min} pixels a side.`,
};

const HEAD_BYTES = 1 << 20; // headers (EXIF included) are read from this much of the file first

/** Format and stored size (before EXIF orientation) from the first bytes, or an InvalidImageError. */
export async function readHeader(file) {
  if (!file.size) throw new InvalidImageError(MESSAGES.empty);
  const head = new Uint8Array(await file.slice(0, HEAD_BYTES).arrayBuffer());
  const starts = (...bytes) => bytes.every((b, i) => head[i] === b);
  const text = (at, s) => [...s].every((c, i) => head[at + i] === c.charCodeAt(0));
  const view = new DataView(head.buffer);
  const need = (n) => { if (head.length < n) throw new InvalidImageError(MESSAGES.truncated); };
  if (starts(0xff, 0xd8, 0xff)) return { format: "JPEG", ...(await jpegSize(file, head)) };
  if (starts(0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a)) {
    need(24);
    if (!text(12, "IHDR")) throw new InvalidImageError(MESSAGES.notImage);
    return { format: "PNG", width: view.getUint32(16), height: view.getUint32(20) };
  }
  if (text(0, "GIF87a") || text(0, "GIF89a")) {
    need(10);
    return { format: "GIF", width: view.getUint16(6, true), height: view.getUint16(8, true) };
  }
  if (text(0, "BM") && head.length >= 18) {
    need(26);
    if (view.getUint32(14, true) === 12) return { format: "BMP", width: view.getUint16(18, true), height: view.getUint16(20, true) };
    return { format: "BMP", width: Math.abs(view.getInt32(18, true)), height: Math.abs(view.getInt32(22, true)) };
  }
  if (text(0, "RIFF") && text(8, "WEBP")) {
    need(30);
    if (text(12, "VP8 ")) return { format: "WebP", width: view.getUint16(26, true) & 0x3fff, height: view.getUint16(28, true) & 0x3fff };
    if (text(12, "VP8L")) {
      const b = head.subarray(21, 25);
      return { format: "WebP", width: 1 + (b[0] | ((b[1] & 0x3f) << 8)), height: 1 + ((b[1] >> 6) | (b[2] << 2) | ((b[3] & 0x0f) << 10)) };
    }
    if (text(12, "VP8X")) {
      const u24 = (at) => head[at] | (head[at + 1] << 8) | (head[at + 2] << 16);
      return { format: "WebP", width: 1 + u24(24), height: 1 + u24(27) };
    }
  }
  if (starts(0x49, 0x49, 0x2a, 0x00) || starts(0x4d, 0x4d, 0x00, 0x2a)) throw new InvalidImageError(MESSAGES.tiff);
  throw new InvalidImageError(MESSAGES.notImage);
}

const SOF = new Set([0xc0, 0xc1, 0xc2, 0xc3, 0xc5, 0xc6, 0xc7, 0xc9, 0xca, 0xcb, 0xcd, 0xce, 0xcf]);

/** The frame size of a JPEG: its markers walked up to the first start-of-frame. */
async function jpegSize(file, head) {
  let bytes = head, at = 2;
  const ensure = async (n) => {
    if (at + n <= bytes.length) return;
    if (at + n > file.size) throw new InvalidImageError(MESSAGES.truncated);
    bytes = new Uint8Array(await file.slice(0, Math.min(file.size, at + n + HEAD_BYTES)).arrayBuffer());
  };
  for (;;) {
    await ensure(2);
    if (bytes[at] !== 0xff) throw new InvalidImageError(MESSAGES.truncated);
    const marker = bytes[at + 1];
    if (marker === 0xff) { at += 1; continue; } // fill byte
    if (marker === 0xd8 || marker === 0x01 || (marker >= 0xd0 && marker <= 0xd7)) { at += 2; continue; }
    if (marker === 0xd9 || marker === 0xda) throw new InvalidImageError(MESSAGES.truncated); // no frame header
    await ensure(4);
    const length = (bytes[at + 2] << 8) | bytes[at + 3];
    if (SOF.has(marker)) {
      await ensure(9);
      return { height: (bytes[at + 5] << 8) | bytes[at + 6], width: (bytes[at + 7] << 8) | bytes[at + 8] };
    }
    at += 2 + length;
  }
}

/** image_io._decode_jpeg_fast's test: a whole JPEG ends with the end-of-image marker. */
async function jpegIsComplete(file) {
  const tail = new Uint8Array(await file.slice(Math.max(0, file.size - 64)).arrayBuffer());
  let end = tail.length;
  while (end > 0 && [0x00, 0x0d, 0x0a, 0x20].includes(tail[end - 1])) end--;
  return end >= 2 && tail[end - 2] === 0xff && tail[end - 1] === 0xd9;
}

/** The photo as an upright ImageBitmap (EXIF orientation applied, colours as stored: no colour
 * management, as OpenCV and Pillow do), with its header facts. Throws InvalidImageError. */
export async function decodeImage(file, limits) {
  const header = await readHeader(file);
  const { width, height } = header;
  if (width * height > limits.max_pixels) throw new InvalidImageError(MESSAGES.tooLarge(width, height, limits.max_pixels));
  if (Math.min(width, height) < limits.min_side) throw new InvalidImageError(MESSAGES.tooSmall(width, height, limits.min_side));
  if (header.format === "JPEG" && !(await jpegIsComplete(file))) throw new InvalidImageError(MESSAGES.truncated);
  let bitmap;
  try {
    bitmap = await createImageBitmap(file, { imageOrientation: "from-image", colorSpaceConversion: "none", premultiplyAlpha: "none" });
  } catch {
    throw new InvalidImageError(MESSAGES.truncated); // the browser's decoder refused it: truncated or corrupt
  }
  return { bitmap, format: header.format, storedSize: [width, height] };
}
