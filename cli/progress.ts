import type { SourceProgress } from '../workflows/types.ts';

/** What a person following a run wants to know, from its `progress` query and the time now. */
export interface ProgressFigures {
  /** Documents done (ingested, unchanged, deleted, failed or handed to a running document workflow). */
  finished: number;
  /** Documents listed so far (the listing goes on page by page, so this grows until it is done). */
  listed: number;
  chunks: number;
  failed: number;
  /** Finished documents per second since the run started. */
  docsPerSecond: number;
  /** Seconds until the documents listed so far are done at that rate; undefined before the first one finishes. */
  etaSeconds: number | undefined;
}

export function progressFigures(p: SourceProgress, nowMs: number): ProgressFigures {
  const finished = p.ingested + p.unchanged + p.deleted + p.failed + p.handedOff;
  const elapsed = Math.max(0.001, (nowMs - p.startedAt) / 1000);
  const docsPerSecond = finished / elapsed;
  const left = Math.max(0, p.listed - finished);
  return {
    finished,
    listed: p.listed,
    chunks: p.chunks,
    failed: p.failed,
    docsPerSecond,
    etaSeconds: p.done ? 0 : docsPerSecond > 0 ? left / docsPerSecond : undefined,
  };
}

/** 75 -> "1m15s", 3725 -> "1h02m", 4 -> "4s"; undefined -> "?". */
export function formatDuration(seconds: number | undefined): string {
  if (seconds === undefined || !Number.isFinite(seconds)) return '?';
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

/** "12/40 documents, 130 chunks, 3.2 docs/s, ETA 9s, 1 failed": one line for a bar or `ingest runs describe`. */
export function progressLine(f: ProgressFigures): string {
  return [
    `${f.finished}/${f.listed} documents`,
    `${f.chunks} chunks`,
    `${f.docsPerSecond.toFixed(1)} docs/s`,
    `ETA ${formatDuration(f.etaSeconds)}`,
    `${f.failed} failed`,
  ].join(', ');
}
