import type { Readable } from 'node:stream';

/** One object of a source listing. */
export interface SourceItem {
  /** Canonical uri of the document, e.g. `s3://bucket/key` or `file:///abs/path`. */
  uri: string;
  size: number;
  /** A version marker of the object (ETag, mtime): a change means the content may have changed. */
  version: string;
}

export interface SourcePage {
  items: SourceItem[];
  /** Absent on the last page. */
  cursor?: string;
}

export interface OpenedObject {
  body: Readable;
  size: number;
  contentType?: string;
  filename: string;
  /** The version of the bytes being read, in the same form as the listing's (so the ledger can compare them). */
  version: string;
}

/** What a HEAD tells about an object without reading it. */
export interface ObjectStat {
  size: number;
  version: string;
}

/** Where documents come from. Listing pages so a prefix of a million objects never sits in memory. */
export interface Source {
  /** True when this source serves `uri` (by scheme). */
  handles(uri: string): boolean;
  list(prefixUri: string, opts: { cursor?: string; pageSize: number }): Promise<SourcePage>;
  /** Throws ConnectorError(NotFound) when the object is gone. */
  open(uri: string): Promise<OpenedObject>;
  /** Size and version without reading the body (S3 HEAD, a file's stat); ConnectorError(NotFound) when gone. */
  stat(uri: string): Promise<ObjectStat>;
  close(): Promise<void>;
}
