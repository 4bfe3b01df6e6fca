/**
 * Files go up in several requests rather than one: a DICOM folder can hold thousands of slices and
 * gigabytes, and one failed request should not cost the whole upload. Kept pure for node tests.
 */
export const BATCH_BYTES = 64 * 1024 * 1024;
export const BATCH_FILES = 200;

export function planBatches(sizes: readonly number[], maxBytes = BATCH_BYTES, maxFiles = BATCH_FILES): number[][] {
  const batches: number[][] = [];
  let current: number[] = [];
  let bytes = 0;
  sizes.forEach((size, i) => {
    if (current.length > 0 && (bytes + size > maxBytes || current.length >= maxFiles)) {
      batches.push(current);
      current = [];
      bytes = 0;
    }
    current.push(i);
    bytes += size;
  });
  if (current.length > 0) batches.push(current);
  return batches;
}

/**
 * Spreads the request's upload progress over its files in body order: the multipart body carries
 * them one after another, so the first `loaded` bytes cover the first files.
 */
export function spreadProgress(sizes: readonly number[], loaded: number, total: number): number[] {
  const payload = sizes.reduce((a, b) => a + b, 0);
  // `total` includes multipart headers; scale so the files fill exactly when the body is done.
  let remaining = total > 0 ? (loaded / total) * payload : 0;
  return sizes.map((size) => {
    const part = Math.min(size, Math.max(0, remaining));
    remaining -= size;
    return part;
  });
}
