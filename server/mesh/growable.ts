/**
 * Append-only typed arrays. Meshes are built by appending millions of numbers; plain JS arrays
 * of numbers would cost 8+ bytes each and many reallocations, these double a typed buffer.
 */
export class GrowableFloat32 {
  data: Float32Array;
  length = 0;
  constructor(capacity = 1024) {
    this.data = new Float32Array(Math.max(16, capacity));
  }
  push3(a: number, b: number, c: number): void {
    if (this.length + 3 > this.data.length) this.#grow(this.length + 3);
    const d = this.data;
    const n = this.length;
    d[n] = a;
    d[n + 1] = b;
    d[n + 2] = c;
    this.length = n + 3;
  }
  /** Room for at least `capacity` numbers in all. */
  reserve(capacity: number): void {
    if (capacity > this.data.length) this.#grow(capacity);
  }
  #grow(min: number): void {
    const next = new Float32Array(Math.max(min, this.data.length * 2));
    next.set(this.data.subarray(0, this.length));
    this.data = next;
  }
  /**
   * The filled part, as a view: no copy of what may be hundreds of megabytes (a copy is as many
   * new pages to fault in), at the price of keeping the spare capacity as long as the view lives.
   */
  finish(): Float32Array {
    return this.data.subarray(0, this.length);
  }
}

export class GrowableUint32 {
  data: Uint32Array;
  length = 0;
  constructor(capacity = 1024) {
    this.data = new Uint32Array(Math.max(16, capacity));
  }
  push(a: number): void {
    if (this.length + 1 > this.data.length) this.#grow(this.length + 1);
    this.data[this.length++] = a;
  }
  push3(a: number, b: number, c: number): void {
    if (this.length + 3 > this.data.length) this.#grow(this.length + 3);
    const d = this.data;
    const n = this.length;
    d[n] = a;
    d[n + 1] = b;
    d[n + 2] = c;
    this.length = n + 3;
  }
  /** Room for at least `capacity` numbers in all. */
  reserve(capacity: number): void {
    if (capacity > this.data.length) this.#grow(capacity);
  }
  #grow(min: number): void {
    const next = new Uint32Array(Math.max(min, this.data.length * 2));
    next.set(this.data.subarray(0, this.length));
    this.data = next;
  }
  /** The filled part, as a view (see GrowableFloat32.finish). */
  finish(): Uint32Array {
    return this.data.subarray(0, this.length);
  }
}
