import { defineSearchAttributeKey } from '@temporalio/common';
import { SearchAttr } from './types.ts';

export const tenantKey = defineSearchAttributeKey(SearchAttr.Tenant, 'KEYWORD');
export const sourceUriKey = defineSearchAttributeKey(SearchAttr.SourceUri, 'KEYWORD');
export const docStatusKey = defineSearchAttributeKey(SearchAttr.DocStatus, 'KEYWORD');
export const pipelineKey = defineSearchAttributeKey(SearchAttr.Pipeline, 'KEYWORD');
