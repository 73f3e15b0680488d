/** What one embed call may be given beside its texts. */
export interface EmbedCallOptions {
  /**
   * Abandons the call's requests still in flight: the activity was cancelled (a drain past its grace time, a cancelled
   * run), or a pool worker's server stopped answering its health probes. The call rejects with the signal's reason.
   * Embedders that run in this process finish the model call they are in.
   */
  signal?: AbortSignal;
}

/** Turns texts into vectors. Documents and queries are separate calls: asymmetric models format them differently. */
export interface Embedder {
  /** Provider, model, dims and prompt version: enters the embedding cache key and the index version. */
  readonly identity: string;
  readonly dims: number;
  /** Cosine for normalised models. */
  readonly metric: 'cosine' | 'dot' | 'l2';
  /** Largest number of tokens of one input the model sees (longer inputs are truncated by the model). */
  readonly maxTokens: number;
  countTokens(text: string): number;
  embedDocuments(texts: string[], opts?: EmbedCallOptions): Promise<Float32Array[]>;
  embedQuery(text: string): Promise<Float32Array>;
  close(): Promise<void>;
}
