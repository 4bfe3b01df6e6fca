;; One constrained umbrella step of smooth.ts's Taubin smoothing, in WebAssembly with 128-bit SIMD.
;; scripts/build-wasm.ts assembles this file into taubinPassWasm.ts (a test checks they agree).
;;
;; Vertices are 16-byte records (x, y, z, 0) of float32, so that one v128 load reads a vertex and
;; one f32x4.add adds a neighbour; the same step in JavaScript computes each coordinate in float64,
;; one at a time, and took about three times as long.
;;
;; pass(src, dst, lo, offsets, neighbours, nv, factor, sx, sy, sz), all addresses in bytes:
;;   src, dst    nv vertex records: read from src, written to dst
;;   lo          nv records: the lower corner of each vertex's cell, which is [lo, lo + (sx, sy, sz)]
;;   offsets     nv + 1 u32: vertex v's neighbours are neighbours[offsets[v] .. offsets[v + 1])
;;   neighbours  u32 byte offsets of neighbour records, relative to the start of a vertex array
;; Each vertex moves `factor` of the way to its neighbours' mean and is then clamped to its cell;
;; a vertex without neighbours stays where it is.
(module
  (memory (export "memory") 1)
  (func (export "pass")
    (param $src i32) (param $dst i32) (param $lo i32) (param $offsets i32) (param $neighbours i32)
    (param $nv i32) (param $factor f32) (param $sx f32) (param $sy f32) (param $sz f32)
    (local $v i32) (local $e i32) (local $end i32) (local $at i32)
    (local $f4 v128) (local $size v128) (local $sum v128) (local $p v128) (local $corner v128) (local $q v128)
    (local.set $f4 (f32x4.splat (local.get $factor)))
    (local.set $size
      (f32x4.replace_lane 2
        (f32x4.replace_lane 1
          (f32x4.replace_lane 0 (v128.const f32x4 0 0 0 0) (local.get $sx))
          (local.get $sy))
        (local.get $sz)))
    (local.set $e (i32.load (local.get $offsets)))
    (block $done
      (loop $vertices
        (br_if $done (i32.ge_u (local.get $v) (local.get $nv)))
        (local.set $end (i32.load offset=4 (i32.add (local.get $offsets) (i32.shl (local.get $v) (i32.const 2)))))
        (local.set $at (i32.shl (local.get $v) (i32.const 4)))
        (local.set $p (v128.load (i32.add (local.get $src) (local.get $at))))
        (if (i32.lt_u (local.get $e) (local.get $end))
          (then
            (local.set $sum (v128.const f32x4 0 0 0 0))
            (loop $gather
              (local.set $sum
                (f32x4.add (local.get $sum)
                  (v128.load
                    (i32.add (local.get $src)
                      (i32.load (i32.add (local.get $neighbours) (i32.shl (local.get $e) (i32.const 2))))))))
              (local.set $e (i32.add (local.get $e) (i32.const 1)))
              (br_if $gather (i32.lt_u (local.get $e) (local.get $end))))
            ;; p + factor * (mean - p), with mean = sum / degree
            (local.set $q
              (f32x4.add (local.get $p)
                (f32x4.mul (local.get $f4)
                  (f32x4.sub
                    (f32x4.div (local.get $sum)
                      (f32x4.splat (f32.convert_i32_u
                        (i32.sub (local.get $end)
                          (i32.load (i32.add (local.get $offsets) (i32.shl (local.get $v) (i32.const 2))))))))
                    (local.get $p)))))
            (local.set $corner (v128.load (i32.add (local.get $lo) (local.get $at))))
            ;; clamp to [corner, corner + size]
            (local.set $p
              (f32x4.pmax (local.get $corner)
                (f32x4.pmin (f32x4.add (local.get $corner) (local.get $size)) (local.get $q))))))
        (v128.store (i32.add (local.get $dst) (local.get $at)) (local.get $p))
        (local.set $e (local.get $end))
        (local.set $v (i32.add (local.get $v) (i32.const 1)))
        (br $vertices)))))
