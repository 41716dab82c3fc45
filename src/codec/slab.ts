/**
 * Small byte regions cut from shared slabs: a new `ArrayBuffer` per small frame or value costs more than filling
 * it. A region is never handed out twice, so it stays valid for as long as it is referenced, and a slab is freed
 * once none of its regions is (as with Node's pooled Buffers, `region.buffer` is bigger than the region). Used by
 * the actor wire format and the transport's framing.
 */
export class Slabs {
  #slab = new Uint8Array(0);
  #used = 0;

  /**
   * `slabSize`: bytes of each slab; `ownAbove`: regions larger than this get a buffer of their own (so that one kept
   * region pins at most a slab, and large ones pin nothing else).
   */
  constructor(
    readonly slabSize: number,
    readonly ownAbove: number,
  ) {}

  /** A zero-filled (never written before) region of `size` bytes. */
  allocate(size: number): Uint8Array {
    if (size > this.ownAbove) return new Uint8Array(size);
    if (this.#used + size > this.#slab.byteLength) {
      this.#slab = new Uint8Array(this.slabSize);
      this.#used = 0;
    }
    const start = this.#used;
    this.#used += size;
    return this.#slab.subarray(start, start + size);
  }
}
