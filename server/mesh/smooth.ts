import type { Vec3 } from '../volume/volume.ts';
import type { SurfaceMesh } from './surfaceNets.ts';
import { TAUBIN_PASS_WASM } from './taubinPassWasm.ts';

export interface SmoothOptions {
  /** Taubin lambda/mu pairs. */
  iterations?: number;
  lambda?: number;
  mu?: number;
}

/**
 * Taubin lambda|mu smoothing (Taubin 1995), each vertex kept inside the voxel cell it came from
 * (Frisken's "constrained elastic surface nets"). Taubin's alternating shrink/inflate step is a
 * low-pass filter that does not shrink the surface as plain Laplacian smoothing does, and the cell
 * constraint keeps the result within half a voxel of the segmentation, so thin structures (ribs,
 * vessels) cannot melt away. Hand-written: the step is a few lines over a CSR adjacency, and no npm
 * package smooths typed-array meshes of millions of vertices without building per-vertex objects.
 *
 * The step itself runs in WebAssembly with SIMD (taubinPass.wat), in float32: three to four times
 * faster than plain TypeScript, measured in docs/performance.md. The results differ only by float32
 * rounding. Only vertices move, so the surface stays the 2-manifold surface nets made.
 *
 * Works in place on `mesh.positions` (grid millimetres, see SurfaceMesh).
 */
export function smoothSurface(
  mesh: SurfaceMesh,
  spacing: Vec3,
  options: SmoothOptions = {},
  signal?: AbortSignal,
): void {
  const iterations = options.iterations ?? 20;
  const lambda = options.lambda ?? 0.5;
  const mu = options.mu ?? -0.53;
  const { positions, indices } = mesh;
  const nv = positions.length / 3;
  if (nv === 0 || iterations <= 0) return;

  // Layout in the kernel's memory, in bytes: two vertex arrays (read, written), the cell corners,
  // the CSR offsets and the neighbours.
  const src = 0;
  const dst = 16 * nv;
  const lo = 32 * nv;
  const offsetsAt = 48 * nv;
  const neighboursAt = offsetsAt + 4 * (nv + 1);
  const { pass, memory } = kernelWithMemory(neighboursAt + 4 * indices.length);
  const f32 = new Float32Array(memory.buffer);
  const u32 = new Uint32Array(memory.buffer);

  // CSR adjacency from the directed triangle edges a->b, b->c, c->a. On a closed mesh every
  // undirected edge appears once in each direction, so out-edges alone list all neighbours once.
  const offsets = u32.subarray(offsetsAt / 4, offsetsAt / 4 + nv + 1);
  offsets.fill(0);
  for (let t = 0; t < indices.length; t++) offsets[indices[t] + 1]++;
  for (let v = 0; v < nv; v++) offsets[v + 1] += offsets[v];
  const fill = offsets.slice(0, nv);
  // Neighbours as byte offsets of their records, so the kernel adds them to an array's start.
  const neighbours = u32.subarray(neighboursAt / 4, neighboursAt / 4 + indices.length);
  for (let t = 0; t < indices.length; t += 3) {
    const a = indices[t];
    const b = indices[t + 1];
    const c = indices[t + 2];
    neighbours[fill[a]++] = b << 4;
    neighbours[fill[b]++] = c << 4;
    neighbours[fill[c]++] = a << 4;
  }

  // Vertices in, with the lower corner of each one's cell; vertices start strictly inside their cell.
  const [sx, sy, sz] = spacing;
  for (let v = 0, p = 0, r = 0; v < nv; v++, p += 3, r += 4) {
    const x = positions[p];
    const y = positions[p + 1];
    const z = positions[p + 2];
    f32[r] = x;
    f32[r + 1] = y;
    f32[r + 2] = z;
    f32[r + 3] = 0;
    const c = r + lo / 4;
    f32[c] = Math.floor(x / sx) * sx;
    f32[c + 1] = Math.floor(y / sy) * sy;
    f32[c + 2] = Math.floor(z / sz) * sz;
    f32[c + 3] = 0;
  }

  for (let i = 0; i < iterations; i++) {
    if (signal && (i & 3) === 0) signal.throwIfAborted();
    pass(src, dst, lo, offsetsAt, neighboursAt, nv, lambda, sx, sy, sz);
    pass(dst, src, lo, offsetsAt, neighboursAt, nv, mu, sx, sy, sz);
  }

  // An even number of passes leaves the result where it started.
  for (let v = 0, p = 0, r = 0; v < nv; v++, p += 3, r += 4) {
    positions[p] = f32[r];
    positions[p + 1] = f32[r + 1];
    positions[p + 2] = f32[r + 2];
  }
}

type TaubinPass = (
  src: number,
  dst: number,
  lo: number,
  offsets: number,
  neighbours: number,
  nv: number,
  factor: number,
  sx: number,
  sy: number,
  sz: number,
) => void;

let kernel: { pass: TaubinPass; memory: WebAssembly.Memory } | undefined;

/** WebAssembly's 32-bit address space. */
const MAX_MEMORY_BYTES = 2 ** 32;

/**
 * The kernel of this thread, its memory grown to at least `bytes`. The memory is kept for the next
 * mesh (as meshoptimizer keeps its heap): the mesh threads live on between jobs, and memory
 * that has been used once costs no page faults the next time.
 */
function kernelWithMemory(bytes: number): { pass: TaubinPass; memory: WebAssembly.Memory } {
  if (bytes > MAX_MEMORY_BYTES) {
    throw new Error(
      `the surface is too large to smooth: it would need ${Math.ceil(bytes / 2 ** 20)} MB, more than WebAssembly's 4 GB`,
    );
  }
  if (!kernel) {
    const { exports } = new WebAssembly.Instance(new WebAssembly.Module(Buffer.from(TAUBIN_PASS_WASM, 'base64')));
    kernel = { pass: exports.pass as TaubinPass, memory: exports.memory as WebAssembly.Memory };
  }
  const have = kernel.memory.buffer.byteLength;
  if (bytes > have) kernel.memory.grow(Math.ceil((bytes - have) / 65536));
  return kernel;
}
