/**
 * Failure types that cross the activity boundary. The activity edge turns a ConnectorError into an
 * ApplicationFailure with this `type`; retry policies and the ledger key on it.
 */
export const FailureType = {
  UnsupportedFormat: 'UnsupportedFormat',
  DocumentTooLarge: 'DocumentTooLarge',
  CorruptDocument: 'CorruptDocument',
  EmptyDocument: 'EmptyDocument',
  InvalidEncoding: 'InvalidEncoding',
  NotFound: 'NotFound',
  InvalidInput: 'InvalidInput',
  RateLimited: 'RateLimited',
  Unavailable: 'Unavailable',
  SinkRejected: 'SinkRejected',
  /** Work of another pipeline version or spec reached this worker (a stale or misconfigured worker). */
  PipelineMismatch: 'PipelineMismatch',
  /** The uri is outside the folders and buckets the pipeline's source settings allow (`source.local.roots`, `source.s3.buckets`). */
  SourceForbidden: 'SourceForbidden',
} as const;
export type FailureType = (typeof FailureType)[keyof typeof FailureType];

/** Bad input: retrying cannot help. */
export const NON_RETRYABLE: readonly FailureType[] = [
  FailureType.UnsupportedFormat,
  FailureType.DocumentTooLarge,
  FailureType.CorruptDocument,
  FailureType.EmptyDocument,
  FailureType.InvalidEncoding,
  FailureType.InvalidInput,
  FailureType.SinkRejected,
  FailureType.PipelineMismatch,
  FailureType.SourceForbidden,
];

/** The base error of every connector: says what kind of failure it is and whether a retry may succeed. */
export class ConnectorError extends Error {
  override name = 'ConnectorError';
  readonly type: FailureType;
  readonly retryable: boolean;
  /** Server-advised wait (Retry-After), for rate limits. */
  readonly retryAfterMs: number | undefined;

  constructor(type: FailureType, message: string, opts: { cause?: unknown; retryAfterMs?: number } = {}) {
    super(message, { cause: opts.cause });
    this.type = type;
    this.retryable = !NON_RETRYABLE.includes(type);
    this.retryAfterMs = opts.retryAfterMs;
  }
}
