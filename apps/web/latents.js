// Seeded latents that any runtime can reproduce: z = latents(seed, n, d), the JavaScript
// twin of export/latents.py (docs/export.md, "Seeded latents", gives both steps):
//   mulberry32 (uint32 state a = seed, arithmetic modulo 2^32) for u in [0, 1), then
//   Box–Muller on pairs (u1, u2): r = sqrt(-2 ln(1 - u1)), z[2k] = r cos(2π u2),
//   z[2k+1] = r sin(2π u2); row-major into z [n, d], the last sine dropped when n·d is odd.

/** A mulberry32 generator started at `seed`: each call returns the next u in [0, 1). */
export function mulberry32(seed) {
  if (!Number.isInteger(seed) || seed < 0 || seed > 0xFFFFFFFF) {
    throw new RangeError(`seed ${seed} is not a 32-bit unsigned integer (0..4294967295)`);
  }
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6D2B79F5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** z [n, d] as a row-major Float32Array of N(0, 1) entries from `seed`. */
export function latents(seed, n, d) {
  const next = mulberry32(seed);
  const size = n * d;
  const z = new Float32Array(size);
  for (let i = 0; i < size; i += 2) {
    const u1 = next();
    const u2 = next();
    const r = Math.sqrt(-2 * Math.log(1 - u1));
    z[i] = r * Math.cos(2 * Math.PI * u2);
    if (i + 1 < size) z[i + 1] = r * Math.sin(2 * Math.PI * u2);
  }
  return z;
}
