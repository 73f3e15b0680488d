import { ConnectorError, FailureType } from '../shared/errors.ts';

// Checks every sink applies before writing a batch, so a bad record fails the batch with nothing half-written.

export function invalid(message: string): ConnectorError {
  return new ConnectorError(FailureType.InvalidInput, message);
}

export function rejected(message: string): ConnectorError {
  return new ConnectorError(FailureType.SinkRejected, message);
}

/** The vector has the index's dimension and only finite components. */
export function checkVector(v: Float32Array, dims: number, what: string): void {
  if (v.length !== dims) throw invalid(`${what}: vector has ${v.length} dimensions, the index has ${dims}`);
  for (let i = 0; i < v.length; i++) {
    if (!Number.isFinite(v[i])) throw invalid(`${what}: vector component ${i} is ${v[i]}`);
  }
}
