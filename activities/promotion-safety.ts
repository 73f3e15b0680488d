import { DocStatus, type DocumentRecord, type Ledger, type LedgerQuery } from '../connectors/ledger/ledger.ts';
import type { Sink } from '../connectors/sinks/sink.ts';
import type { AcceptLosses, PromotionLoss } from '../workflows/promote-failures.ts';

// What a promotion would change for readers, read from the ledgers of the two versions: the alias (and the later drop
// of the replaced index) are shared by every tenant of the pipeline, so every tenant is looked at, not only the one
// that asked for the promotion.

const PAGE = 1000;

/** Every ledger row of one version matching `query`, page by page. */
export async function* ledgerRows(
  ledger: Ledger,
  query: Pick<LedgerQuery, 'status' | 'tenant'> = {},
): AsyncGenerator<DocumentRecord> {
  let after: string | undefined;
  do {
    const page = await ledger.list({ ...query, limit: PAGE, ...(after === undefined ? {} : { after }) });
    yield* page.records;
    after = page.next;
  } while (after !== undefined);
}

const isLive = (s: DocStatus) => s === DocStatus.ingested || s === DocStatus.unchanged;
const keyOf = (tenant: string, sourceUri: string) => `${tenant}\u0000${sourceUri}`;

export interface PromotionScan {
  /** Tenants with rows at the new version, or live documents in the version readers see now. */
  tenants: string[];
  /** Documents live in the version readers see now (all tenants); 0 when there is none to compare with. */
  liveDocuments: number;
  /** Live documents the new version would drop, in ledger order. */
  losses: PromotionLoss[];
}

/**
 * Compares the new version's ledger (`next`) with the ledger of the version readers see now (`live`; undefined when
 * readers see nothing or the new version already): a live document that is missing, failed or still processing at the
 * new version would lose its chunks on the switch. A document deleted at the new version is not a loss: its source is
 * gone.
 */
export async function scanPromotion(next: Ledger, live: Ledger | undefined): Promise<PromotionScan> {
  const tenants = new Set<string>();
  const status = new Map<string, DocStatus>();
  const errors = new Map<string, string>();
  for await (const r of ledgerRows(next)) {
    tenants.add(r.tenant);
    const key = keyOf(r.tenant, r.sourceUri);
    status.set(key, r.status);
    if (r.status === DocStatus.failed && r.lastError) errors.set(key, `${r.lastError.type}: ${r.lastError.message}`);
  }
  const losses: PromotionLoss[] = [];
  let liveDocuments = 0;
  if (live) {
    for (const st of [DocStatus.ingested, DocStatus.unchanged]) {
      for await (const r of ledgerRows(live, { status: st })) {
        tenants.add(r.tenant);
        liveDocuments++;
        const key = keyOf(r.tenant, r.sourceUri);
        const s = status.get(key);
        if (s !== undefined && (isLive(s) || s === DocStatus.deleted)) continue;
        const reason =
          s === undefined
            ? 'missing'
            : s === DocStatus.failed
              ? 'failed'
              : s === DocStatus.cancelled
                ? 'cancelled'
                : 'processing';
        const error = errors.get(key);
        losses.push({ tenant: r.tenant, sourceUri: r.sourceUri, reason, ...(error === undefined ? {} : { error }) });
      }
    }
  }
  return { tenants: [...tenants].sort(), liveDocuments, losses };
}

/** Splits losses into those the operator accepted and those that block the promotion. */
export function partitionLosses(
  losses: PromotionLoss[],
  accept: AcceptLosses | undefined,
): { accepted: PromotionLoss[]; refused: PromotionLoss[] } {
  if (accept === 'all') return { accepted: losses, refused: [] };
  const named = new Set(accept ?? []);
  return {
    accepted: losses.filter((l) => named.has(l.sourceUri)),
    refused: losses.filter((l) => !named.has(l.sourceUri)),
  };
}

/** Deletes recorded before this long ahead of the new version's promotion are replayed too (clock skew, a slow switch). */
const REPLAY_MARGIN_MS = 10 * 60_000;

/**
 * Replays onto `sink`'s index `to` (about to be the live one again) the deletes the new version recorded since it was
 * promoted: while the alias pointed at the new version, deletes cleared only the new index (activities/sinks.ts
 * deleteFromSink clears the live index and its own). The replaced version's ledger row is marked deleted too, so every
 * version's ledger keeps matching its index. A row of the replaced version written after the delete (that version
 * ingested the document again) is left alone. Idempotent: a row already marked deleted is still cleared from the
 * sink, as another sink of the pipeline may have marked it.
 */
export async function replayDeletes(input: {
  sink: Sink;
  sinkNames: string[];
  next: Ledger;
  previous: Ledger;
  to: string;
  promotedAt: string | null;
}): Promise<{ replayed: number }> {
  const since = input.promotedAt === null ? '' : new Date(Date.parse(input.promotedAt) - REPLAY_MARGIN_MS).toISOString();
  let replayed = 0;
  for await (const r of ledgerRows(input.next, { status: DocStatus.deleted })) {
    if (r.updatedAt < since) continue;
    const old = await input.previous.get(r.tenant, r.sourceUri);
    if (old === undefined) continue;
    if (old.status !== DocStatus.deleted && old.updatedAt > r.updatedAt) continue;
    await input.sink.deleteDocument(input.to, r.tenant, r.sourceUri);
    replayed++;
    if (old.status === DocStatus.deleted) continue;
    const now = new Date().toISOString();
    await input.previous.put({
      ...old,
      status: DocStatus.deleted,
      chunkIds: [],
      contentHash: null,
      sinks: Object.fromEntries(input.sinkNames.map((s) => [s, { state: 'ok' as const, upserted: 0, updatedAt: now }])),
      lastError: null,
      sourceVersion: null,
      eventAt: old.eventAt !== null && r.eventAt !== null && old.eventAt > r.eventAt ? old.eventAt : (r.eventAt ?? old.eventAt),
      updatedAt: now,
    });
  }
  return { replayed };
}
