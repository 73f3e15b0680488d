// Test support for the hostile-input tests (zip, docx, pdf): bombs built with code, and the memory they cost.
import { readFileSync, writeFileSync } from 'node:fs';
import { createDeflate, createDeflateRaw } from 'node:zlib';

/** `mib` MiB of zeros, deflated (raw, as in ZIP, or zlib-wrapped, as in PDF) a MiB at a time: ~1 KB per MiB. */
export async function deflatedZeros(mib: number, format: 'raw' | 'zlib'): Promise<Buffer> {
  const deflater = format === 'raw' ? createDeflateRaw({ level: 9 }) : createDeflate({ level: 9 });
  const out: Buffer[] = [];
  deflater.on('data', (c: Buffer) => out.push(c));
  const ended = new Promise((resolve, reject) => deflater.on('end', resolve).on('error', reject));
  const zeros = Buffer.alloc(1024 * 1024);
  for (let i = 0; i < mib; i++) if (!deflater.write(zeros)) await new Promise((r) => deflater.once('drain', r));
  deflater.end();
  await ended;
  return Buffer.concat(out);
}

/**
 * How far the process's resident memory rose above its level before `fn`, at the highest. On Linux the kernel's own
 * peak (VmHWM, reset first) is read, which also sees peaks inside synchronous code; elsewhere RSS is sampled.
 */
export async function peakRssGrowth(fn: () => Promise<unknown>): Promise<number> {
  const before = process.memoryUsage().rss;
  let kernelPeak = false;
  try {
    writeFileSync('/proc/self/clear_refs', '5');
    kernelPeak = true;
  } catch {
    // not Linux, or not allowed: sampling only
  }
  let peak = before;
  const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 2);
  try {
    await fn();
  } finally {
    clearInterval(sampler);
  }
  peak = Math.max(peak, process.memoryUsage().rss);
  if (kernelPeak) {
    const hwm = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'))?.[1];
    if (hwm) peak = Math.max(peak, Number(hwm) * 1024);
  }
  return peak - before;
}

export const MiB = 1024 * 1024;
