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
  embedDocuments(texts: string[]): Promise<Float32Array[]>;
  embedQuery(text: string): Promise<Float32Array>;
  close(): Promise<void>;
}
