// Vector values for Pinecone's JSON data plane: as short as they can be without changing a float32.

const POW10 = Array.from({ length: 23 }, (_, i) => 10 ** i);

/** How many characters JavaScript prints for a number with k significant digits and decimal exponent n (10^(n-1) <= |x| < 10^n). */
function printedLength(k: number, n: number): number {
  if (k <= n && n <= 21) return n;
  if (n > 0 && n <= 21) return k + 1;
  if (n > -6 && n <= 0) return 2 - n + k;
  const exp = Math.abs(n - 1);
  return k + (k > 1 ? 1 : 0) + 2 + (exp >= 100 ? 3 : exp >= 10 ? 2 : 1);
}

/**
 * A float32 vector as doubles with at most nine significant digits that read back as the same float32s, and the
 * length of their JSON array. Nine digits always suffice, and print in about two thirds of the characters of the
 * float64s that Array.from(Float32Array) gives: smaller requests, nothing lost. Scaling by an exact power of ten and
 * rounding is several times faster than toPrecision(9), and knowing the digits gives the printed length without
 * printing; each value is checked, and toPrecision answers where the check fails or the scale is not exact.
 */
export function shortFloat32s(v: Float32Array): { values: number[]; jsonLength: number } {
  const values = new Array<number>(v.length);
  let chars = 1 + Math.max(v.length, 1);
  for (let i = 0; i < v.length; i++) {
    const x = v[i]!;
    const a = Math.abs(x);
    if (a === 0 || !Number.isFinite(a)) {
      values[i] = x;
      chars += String(x).length;
      continue;
    }
    const p = 8 - Math.floor(Math.log10(a));
    let m = Number.NaN;
    let r = Number.NaN;
    if (p >= 0 && p <= 22) r = (m = Math.round(x * POW10[p]!)) / POW10[p]!;
    else if (p < 0 && p >= -22) r = (m = Math.round(x / POW10[-p]!)) * POW10[-p]!;
    if (Math.fround(r) !== x) {
      values[i] = r = Number(x.toPrecision(9));
      chars += String(r).length;
      continue;
    }
    values[i] = r;
    // r is the double nearest m * 10^-p, which has at most ten digits, so it prints as exactly those digits.
    let am = Math.abs(m);
    let zeros = 0;
    while (am % 10 === 0) {
      am /= 10;
      zeros++;
    }
    let k = 1;
    while (k < 22 && am >= POW10[k]!) k++;
    chars += (x < 0 ? 1 : 0) + printedLength(k, k + zeros - p);
  }
  return { values, jsonLength: chars };
}
