// Plain data shared by the promote workflow, its activities and clients. No imports: workflows load this file.

/** The `type` of the ApplicationFailure a promotion ends with when it refuses or cannot finish the switch. */
export const PromoteFailureType = {
  /**
   * Documents readers see now would lose their chunks in the new version (failed or not yet ingested there), and the
   * operator did not accept them (`acceptLosses`). Non-retryable; details: one `PromotionLossesDetails`.
   */
  LossesNotAccepted: 'PromotionLossesNotAccepted',
  /** One sink's alias switch failed; the sinks that had already switched were switched back. Non-retryable. */
  SwitchFailed: 'PromotionSwitchFailed',
} as const;
export type PromoteFailureType = (typeof PromoteFailureType)[keyof typeof PromoteFailureType];

/** A document live in the version readers see now that the new version has no chunks for. */
export interface PromotionLoss {
  tenant: string;
  sourceUri: string;
  /** `missing`: no row at the new version yet; otherwise the new version's status (`failed`, `cancelled`, `processing`). */
  reason: 'missing' | 'failed' | 'cancelled' | 'processing';
  /** The new version's error for a failed document (`type: message`). */
  error?: string;
}

/** How many losses a failure or a result lists; the total is always given. */
export const LOSS_LIST_LIMIT = 20;

/** Details of a LossesNotAccepted failure: the first LOSS_LIST_LIMIT losses not accepted, and how many there are. */
export interface PromotionLossesDetails {
  sink: string;
  index: string;
  /** The index readers see now. */
  current: string;
  losses: PromotionLoss[];
  total: number;
}

/**
 * Losses the operator accepts: the source uris of the documents (any tenant), or 'all'. The workflow input and the
 * SDK's `promote({ acceptLosses })` take this.
 */
export type AcceptLosses = string[] | 'all';
