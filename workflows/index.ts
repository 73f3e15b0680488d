// The workflow bundle's entry: every workflow a worker registers.
export { documentWorkflow } from './document.ts';
export { sourceWorkflow } from './source.ts';
export { promoteIndexWorkflow } from './promote.ts';
export { reconcileWorkflow } from './reconcile.ts';
