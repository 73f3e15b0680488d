// Messages between a SQLite-backed store's proxy (the caller's thread) and the thread that owns the database.

import type { LedgerScope } from './ledger.ts';

/** What the thread opens: one of the SQLite stores, with its (structured-cloneable) settings. */
export type StoreSpec =
  | { kind: 'ledger'; config: { path: string; busyTimeoutMs?: number }; scope: LedgerScope }
  | { kind: 'cache'; config: { path: string; busyTimeoutMs?: number } }
  | { kind: 'terms'; config: { path: string; busyTimeoutMs?: number } }
  | { kind: 'budget'; config: Record<string, unknown> };

/** Opens a store on the thread (sent when the store is created, and again to a thread started after one died). */
export interface OpenMessage {
  open: number;
  spec: StoreSpec;
}

/** Drops a closed store from the thread. */
export interface ForgetMessage {
  forget: number;
}

export interface CallMessage {
  id: number;
  /** Which of the thread's stores. */
  store: number;
  /** Ledger: the pipeline version of the view; budget: the grant id for `settle`; otherwise 0. */
  target: number;
  method: string;
  args: unknown[];
}

/** Asks the thread to abort a pending call (a rate-budget wait whose caller gave up). */
export interface CancelMessage {
  cancel: number;
}

export interface SerializedError {
  name: string;
  message: string;
  /** A ConnectorError's failure type, so the caller gets the same typed error back. */
  type?: string;
  retryAfterMs?: number;
}

export type ReplyMessage = { id: number; ok: true; value: unknown } | { id: number; ok: false; error: SerializedError };
