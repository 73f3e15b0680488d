// Kept apart from worker.ts so a worker process can re-exec itself before it loads anything heavy.
/**
 * V8 heap settings for a process that only runs workers. With V8's defaults (an old space of a quarter of the machine's
 * memory, 16-32 MB semi-spaces) the heap grows far past what is live before a full collection runs: measured on the
 * bench's 55 MB PDF, the main heap reached 300 MB for 70 MB live, and the worker peaked at 614 MB RSS; with these it
 * stayed under 75 MB and peaked at 423 MB. The old space is a ceiling for live data, not a target: the worker holds
 * one batch per activity, never a document (parsers and chunkers stream, pdf.js runs on a heap of its own).
 */
export const WORKER_HEAP_FLAGS = ['--max-old-space-size=256', '--max-semi-space-size=4'] as const;

/**
 * glibc malloc settings for the same process (an operator's own values win). The native parts (onnxruntime, pdf.js's
 * thread, Temporal's core) allocate from many threads, and glibc gives each thread an arena of its own that keeps what
 * it frees; two arenas and an eager trim return that memory. Measured on the memory run with the local model in one
 * combined worker: peak 666 -> 615 MB, steady 590 -> 515 MB. Other C libraries ignore these variables.
 */
export const WORKER_MALLOC_ENV = { MALLOC_ARENA_MAX: '2', MALLOC_TRIM_THRESHOLD_: '131072' } as const;

/**
 * Replaces this process (same pid, through exec) with one started with WORKER_HEAP_FLAGS, unless the heap is already
 * configured by flags or NODE_OPTIONS (an operator's choice wins). Heap limits are fixed when V8 starts, so a dedicated
 * worker process calls this first, before it starts anything. Returns only when nothing needs changing.
 */
export function execWithWorkerHeap(env: NodeJS.ProcessEnv): void {
  const given = [...process.execArgv, ...(env.NODE_OPTIONS ?? '').split(/\s+/)];
  if (given.some((a) => /^--max-(old|semi)-space-size\b/.test(a))) return;
  if (!process.execve) return; // not on Windows: the defaults stay
  process.execve(process.execPath, [process.execPath, ...WORKER_HEAP_FLAGS, ...process.execArgv, ...process.argv.slice(1)], {
    ...WORKER_MALLOC_ENV,
    ...env,
  });
}
