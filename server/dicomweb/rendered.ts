import { PNG } from 'pngjs';
import jpeg from 'jpeg-js';
import { httpError } from '../errors.ts';
import type { DicomDict } from './instanceDataset.ts';
import { firstNumber } from './instanceDataset.ts';
import { decodedFrame, decodedPhotometric, type PixelSource } from './frames.ts';

/**
 * Rendered frames and thumbnails (PS3.18 §8.3.5, §10.4.1.1.3): stored values through the Modality LUT
 * (Rescale Slope/Intercept), then the VOI window (`window=center,width[,linear|linear-exact|sigmoid]`
 * from the query, else the instance's first Window Center/Width, else the frame's own range), to 8 bits,
 * MONOCHROME1 inverted, scaled to `viewport=` and encoded as JPEG or PNG.
 */

export interface RenderOptions {
  window?: { center: number; width: number; fn: 'linear' | 'linear-exact' | 'sigmoid' };
  viewport?: { width: number; height: number };
  quality: number;
}

export function parseRenderQuery(query: Record<string, unknown>, thumbnail: boolean): RenderOptions {
  const opts: RenderOptions = { quality: 90 };
  const win = typeof query.window === 'string' ? query.window : undefined;
  if (win !== undefined) {
    const [c, w, fn = 'linear'] = win.split(',').map((s) => s.trim());
    const center = Number(c);
    const width = Number(w);
    if (
      !Number.isFinite(center) ||
      !Number.isFinite(width) ||
      width <= 0 ||
      !['linear', 'linear-exact', 'sigmoid'].includes(fn.toLowerCase())
    ) {
      throw httpError(400, 'window must be center,width[,linear|linear-exact|sigmoid] with a positive width');
    }
    opts.window = { center, width, fn: fn.toLowerCase() as 'linear' | 'linear-exact' | 'sigmoid' };
  }
  const vp = typeof query.viewport === 'string' ? query.viewport : undefined;
  if (vp !== undefined) {
    const [w, h] = vp.split(',').map((s) => s.trim());
    const width = Number(w);
    const height = h === undefined || h === '' ? width : Number(h);
    if (
      !Number.isInteger(width) ||
      !Number.isInteger(height) ||
      width < 1 ||
      height < 1 ||
      width > 4096 ||
      height > 4096
    ) {
      throw httpError(400, 'viewport must be width,height in pixels (1 to 4096)');
    }
    opts.viewport = { width, height };
  } else if (thumbnail) opts.viewport = { width: 128, height: 128 };
  const q = typeof query.quality === 'string' ? Number(query.quality) : undefined;
  if (q !== undefined) {
    if (!Number.isInteger(q) || q < 1 || q > 100) throw httpError(400, 'quality must be a whole number from 1 to 100');
    opts.quality = q;
  }
  return opts;
}

/** The window of the instance (first value of each), as PS3.3 C.11.2 gives it. */
function storedWindow(dict: DicomDict): RenderOptions['window'] | undefined {
  const center = firstNumber(dict, '00281050');
  const width = firstNumber(dict, '00281051');
  if (center === undefined || width === undefined || width <= 0) return undefined;
  const fn = String(dict['00281056']?.Value?.[0] ?? 'LINEAR')
    .trim()
    .toLowerCase();
  return { center, width, fn: fn === 'sigmoid' ? 'sigmoid' : fn === 'linear_exact' ? 'linear-exact' : 'linear' };
}

/** 8-bit grey (1 sample) or RGB (3 samples) pixels of one frame. */
interface Rendered8 {
  width: number;
  height: number;
  channels: 1 | 3;
  data: Uint8Array;
}

export async function renderFrame(
  src: PixelSource,
  dict: DicomDict,
  n: number,
  opts: RenderOptions,
): Promise<Rendered8> {
  const { fmt } = src;
  const raw = await decodedFrame(src, n);
  const pixels = fmt.rows * fmt.columns;
  if (fmt.samplesPerPixel === 3) {
    if (fmt.bitsAllocated !== 8)
      throw httpError(406, 'colour images of more than 8 bits per sample cannot be rendered');
    const rgb = new Uint8Array(raw.buffer, raw.byteOffset, pixels * 3);
    const pi = decodedPhotometric(src);
    return { width: fmt.columns, height: fmt.rows, channels: 3, data: pi.startsWith('YBR_FULL') ? ybrToRgb(rgb) : rgb };
  }
  if (fmt.samplesPerPixel !== 1 || ![8, 16, 32].includes(fmt.bitsAllocated)) {
    throw httpError(406, `images with ${fmt.samplesPerPixel} samples of ${fmt.bitsAllocated} bits cannot be rendered`);
  }
  const values = sampleView(raw, fmt.bitsAllocated, fmt.pixelRepresentation === 1, pixels);
  const slope = firstNumber(dict, '00281053') ?? 1;
  const intercept = firstNumber(dict, '00281052') ?? 0;
  let win = opts.window ?? storedWindow(dict);
  if (!win) {
    let lo = Infinity;
    let hi = -Infinity;
    for (let i = 0; i < pixels; i++) {
      const v = values[i] * slope + intercept;
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
    win = { center: (lo + hi) / 2, width: Math.max(1, hi - lo), fn: 'linear-exact' };
  }
  const invert = fmt.photometricInterpretation === 'MONOCHROME1';
  const out = new Uint8Array(pixels);
  const { center, width, fn } = win;
  for (let i = 0; i < pixels; i++) {
    const x = values[i] * slope + intercept;
    let y: number;
    if (fn === 'sigmoid') y = 255 / (1 + Math.exp((-4 * (x - center)) / width));
    else if (fn === 'linear-exact') y = ((x - (center - width / 2)) / width) * 255;
    else {
      // PS3.3 C.11.2.1.2.1: the linear function as the standard writes it (center - 0.5, width - 1).
      const c = center - 0.5;
      const w = width - 1;
      y = x <= c - w / 2 ? 0 : x > c + w / 2 ? 255 : ((x - c) / w + 0.5) * 255;
    }
    const v = y < 0 ? 0 : y > 255 ? 255 : Math.round(y);
    out[i] = invert ? 255 - v : v;
  }
  return { width: fmt.columns, height: fmt.rows, channels: 1, data: out };
}

function sampleView(raw: Buffer, bits: number, signed: boolean, n: number): ArrayLike<number> {
  const copy = new Uint8Array(raw.subarray(0, (n * bits) / 8)).buffer;
  if (bits === 8) return signed ? new Int8Array(copy) : new Uint8Array(copy);
  if (bits === 16) return signed ? new Int16Array(copy) : new Uint16Array(copy);
  return signed ? new Int32Array(copy) : new Uint32Array(copy);
}

function ybrToRgb(ybr: Uint8Array): Uint8Array {
  const out = new Uint8Array(ybr.length);
  for (let i = 0; i < ybr.length; i += 3) {
    const y = ybr[i];
    const cb = ybr[i + 1] - 128;
    const cr = ybr[i + 2] - 128;
    out[i] = clamp(y + 1.402 * cr);
    out[i + 1] = clamp(y - 0.344136 * cb - 0.714136 * cr);
    out[i + 2] = clamp(y + 1.772 * cb);
  }
  return out;
}

function clamp(v: number): number {
  return v < 0 ? 0 : v > 255 ? 255 : Math.round(v);
}

/** Scales to fit inside the viewport keeping the aspect ratio (area averaging when shrinking). */
export function fitToViewport(img: Rendered8, viewport: RenderOptions['viewport']): Rendered8 {
  if (!viewport) return img;
  const scale = Math.min(viewport.width / img.width, viewport.height / img.height);
  const width = Math.max(1, Math.round(img.width * scale));
  const height = Math.max(1, Math.round(img.height * scale));
  if (width === img.width && height === img.height) return img;
  const ch = img.channels;
  const out = new Uint8Array(width * height * ch);
  for (let y = 0; y < height; y++) {
    const y0 = Math.floor((y * img.height) / height);
    const y1 = Math.max(y0 + 1, Math.floor(((y + 1) * img.height) / height));
    for (let x = 0; x < width; x++) {
      const x0 = Math.floor((x * img.width) / width);
      const x1 = Math.max(x0 + 1, Math.floor(((x + 1) * img.width) / width));
      for (let c = 0; c < ch; c++) {
        let sum = 0;
        for (let sy = y0; sy < y1; sy++)
          for (let sx = x0; sx < x1; sx++) sum += img.data[(sy * img.width + sx) * ch + c];
        out[(y * width + x) * ch + c] = Math.round(sum / ((y1 - y0) * (x1 - x0)));
      }
    }
  }
  return { width, height, channels: ch, data: out };
}

export function encodeImage(img: Rendered8, type: 'image/jpeg' | 'image/png', quality: number): Buffer {
  if (type === 'image/png') {
    const png = new PNG({
      width: img.width,
      height: img.height,
      colorType: img.channels === 1 ? 0 : 2,
      inputColorType: img.channels === 1 ? 0 : 2,
      inputHasAlpha: false,
    });
    png.data = Buffer.from(img.data.buffer, img.data.byteOffset, img.data.byteLength);
    return PNG.sync.write(png, {
      colorType: img.channels === 1 ? 0 : 2,
      inputColorType: img.channels === 1 ? 0 : 2,
      inputHasAlpha: false,
    });
  }
  // jpeg-js takes RGBA.
  const rgba = Buffer.alloc(img.width * img.height * 4);
  for (let i = 0, j = 0; i < img.width * img.height; i++, j += 4) {
    const s = i * img.channels;
    rgba[j] = img.data[s];
    rgba[j + 1] = img.data[img.channels === 1 ? s : s + 1];
    rgba[j + 2] = img.data[img.channels === 1 ? s : s + 2];
    rgba[j + 3] = 255;
  }
  return Buffer.from(jpeg.encode({ data: rgba, width: img.width, height: img.height }, quality).data);
}
