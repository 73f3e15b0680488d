import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { shortFloat32s } from './pinecone-floats.ts';

describe('shortFloat32s', () => {
  it('reads back as the same float32s, in at most nine significant digits, with the exact JSON length', () => {
    let seed = 1;
    const rnd = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    const edges = [
      0, -0, 1, -1, 0.1, 1e-6, 9.99999e-7, 1e-7, 1e21, 9.999999e20, 1e-45, -1.17549435e-38, 3.4028234e38, 123456.78, 0.001, 100,
      1e9, 999999999, 1234567890, 5e-324,
    ];
    const vectors = [
      Float32Array.from(edges),
      // Embedding-like values, wider magnitudes, and bit patterns drawn at random over the whole float32 range.
      ...Array.from({ length: 200 }, () => Float32Array.from({ length: 384 }, () => (rnd() * 2 - 1) * 0.2)),
      ...Array.from({ length: 50 }, () => Float32Array.from({ length: 384 }, () => (rnd() * 2 - 1) * 10 ** (rnd() * 60 - 30))),
      ...Array.from({ length: 50 }, () => {
        const bits = Uint32Array.from({ length: 384 }, () => Math.floor(rnd() * 2 ** 32));
        return new Float32Array(bits.buffer).map((x) => (Number.isFinite(x) ? x : 1));
      }),
    ];
    for (const v of vectors) {
      const { values, jsonLength } = shortFloat32s(v);
      assert.equal(jsonLength, JSON.stringify(values).length);
      for (let i = 0; i < v.length; i++) {
        assert.equal(Math.fround(values[i]!), v[i], `component ${i}: ${v[i]} came back as ${values[i]}`);
        const digits = String(Math.abs(values[i]!)).replace(/e.*$/, '').replace('.', '').replace(/^0+/, '').replace(/0+$/, '');
        assert.ok(digits.length <= 9, `${values[i]} has ${digits.length} significant digits`);
      }
    }
    assert.deepEqual(shortFloat32s(new Float32Array(0)), { values: [], jsonLength: 2 });
  });
});
