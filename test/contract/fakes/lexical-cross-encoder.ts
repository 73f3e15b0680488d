import { copyFile, mkdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import protobuf from 'protobufjs';
import { sha256File } from '../../../connectors/embedders/model-files.ts';
import { RERANKER_MANIFEST_FILE, type RerankerManifest } from '../../../connectors/rerankers/model-files.ts';

// A stand-in cross-encoder for exercising the local ONNX reranker's plumbing when no real cross-encoder is installed:
// an ONNX graph with a BERT cross-encoder's interface (input_ids, attention_mask, token_type_ids -> logits [batch, 1])
// and no learned weights. Its logit is the number of passage tokens (segment 1) that also occur in the query
// (segment 0), minus 1.5 (the closing [SEP] always matches). It ranks by word overlap: enough to prove tokenisation,
// the pair template, truncation, padding, batching and the sigmoid head end to end, and nothing about model quality.
// The graph is written with protobufjs from the few onnx.proto fields it needs (field numbers from onnx.proto3).

const ONNX_SCHEMA = {
  nested: {
    ModelProto: {
      fields: {
        irVersion: { type: 'int64', id: 1 },
        producerName: { type: 'string', id: 2 },
        graph: { type: 'GraphProto', id: 7 },
        opsetImport: { rule: 'repeated', type: 'OperatorSetIdProto', id: 8 },
      },
    },
    OperatorSetIdProto: { fields: { domain: { type: 'string', id: 1 }, version: { type: 'int64', id: 2 } } },
    GraphProto: {
      fields: {
        node: { rule: 'repeated', type: 'NodeProto', id: 1 },
        name: { type: 'string', id: 2 },
        initializer: { rule: 'repeated', type: 'TensorProto', id: 5 },
        input: { rule: 'repeated', type: 'ValueInfoProto', id: 11 },
        output: { rule: 'repeated', type: 'ValueInfoProto', id: 12 },
      },
    },
    NodeProto: {
      fields: {
        input: { rule: 'repeated', type: 'string', id: 1 },
        output: { rule: 'repeated', type: 'string', id: 2 },
        name: { type: 'string', id: 3 },
        opType: { type: 'string', id: 4 },
        attribute: { rule: 'repeated', type: 'AttributeProto', id: 5 },
      },
    },
    AttributeProto: {
      fields: {
        name: { type: 'string', id: 1 },
        i: { type: 'int64', id: 3 },
        ints: { rule: 'repeated', type: 'int64', id: 8 },
        type: { type: 'int32', id: 20 },
      },
    },
    TensorProto: {
      fields: {
        dims: { rule: 'repeated', type: 'int64', id: 1 },
        dataType: { type: 'int32', id: 2 },
        floatData: { rule: 'repeated', type: 'float', id: 4 },
        int64Data: { rule: 'repeated', type: 'int64', id: 7 },
        name: { type: 'string', id: 8 },
      },
    },
    ValueInfoProto: { fields: { name: { type: 'string', id: 1 }, type: { type: 'TypeProto', id: 2 } } },
    TypeProto: { fields: { tensorType: { type: 'TypeTensor', id: 1 } } },
    TypeTensor: { fields: { elemType: { type: 'int32', id: 1 }, shape: { type: 'TensorShapeProto', id: 2 } } },
    TensorShapeProto: { fields: { dim: { rule: 'repeated', type: 'Dimension', id: 1 } } },
    Dimension: { fields: { dimValue: { type: 'int64', id: 1 }, dimParam: { type: 'string', id: 2 } } },
  },
};

const FLOAT = 1;
const INT64 = 7;
const ATTR_INT = 2;
const ATTR_INTS = 7;

const value = (name: string, elemType: number, dims: (string | number)[]) => ({
  name,
  type: {
    tensorType: {
      elemType,
      shape: { dim: dims.map((d) => (typeof d === 'string' ? { dimParam: d } : { dimValue: d })) },
    },
  },
});
const node = (opType: string, input: string[], output: string, attribute: object[] = []) => ({
  opType,
  input,
  output: [output],
  name: output,
  attribute,
});

/** The serialized graph (opset 13). */
export function lexicalCrossEncoderOnnx(): Uint8Array {
  const root = protobuf.Root.fromJSON(ONNX_SCHEMA);
  const Model = root.lookupType('ModelProto');
  const graph = {
    name: 'lexical-overlap-cross-encoder',
    input: [
      value('input_ids', INT64, ['batch', 'len']),
      value('attention_mask', INT64, ['batch', 'len']),
      value('token_type_ids', INT64, ['batch', 'len']),
    ],
    output: [value('logits', FLOAT, ['batch', 1])],
    initializer: [
      { name: 'one', dataType: INT64, dims: [], int64Data: [1] },
      { name: 'two', dataType: INT64, dims: [], int64Data: [2] },
      { name: 'axis1', dataType: INT64, dims: [1], int64Data: [1] },
      { name: 'axis2', dataType: INT64, dims: [1], int64Data: [2] },
      { name: 'offset', dataType: FLOAT, dims: [], floatData: [1.5] },
    ],
    node: [
      // Passage mask and query mask (the query segment holds [CLS] q [SEP]).
      node('Mul', ['token_type_ids', 'attention_mask'], 'dm'),
      node('Sub', ['attention_mask', 'dm'], 'qm'),
      // Query ids, -1 outside the query; passage ids, -2 outside the passage: padding never matches.
      node('Mul', ['input_ids', 'qm'], 'q_ids'),
      node('Sub', ['qm', 'one'], 'q_fill'),
      node('Add', ['q_ids', 'q_fill'], 'q'),
      node('Mul', ['input_ids', 'dm'], 'd_ids'),
      node('Sub', ['one', 'dm'], 'not_d'),
      node('Mul', ['not_d', 'two'], 'd_fill'),
      node('Sub', ['d_ids', 'd_fill'], 'd'),
      node('Unsqueeze', ['d', 'axis2'], 'd3'),
      node('Unsqueeze', ['q', 'axis1'], 'q3'),
      node('Equal', ['d3', 'q3'], 'eq'),
      node('Cast', ['eq'], 'eqf', [{ name: 'to', i: FLOAT, type: ATTR_INT }]),
      node('ReduceMax', ['eqf'], 'hit', [
        { name: 'axes', ints: [2], type: ATTR_INTS },
        { name: 'keepdims', i: 0, type: ATTR_INT },
      ]),
      node('ReduceSum', ['hit', 'axis1'], 'matches', [{ name: 'keepdims', i: 1, type: ATTR_INT }]),
      node('Sub', ['matches', 'offset'], 'logits'),
    ],
  };
  const msg = Model.fromObject({
    irVersion: 7,
    producerName: 'ragline-test',
    graph,
    opsetImport: [{ domain: '', version: 13 }],
  });
  return Model.encode(msg).finish();
}

/**
 * A complete reranker folder (reranker.json, model.onnx, tokenizer.json, config.json) around the lexical graph, with
 * a real BERT tokenizer (`tokenizerPath`, e.g. the local embedder's all-MiniLM tokenizer.json).
 */
export async function writeLexicalCrossEncoder(dir: string, tokenizerPath: string, maxTokens = 512): Promise<string> {
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'model.onnx'), lexicalCrossEncoderOnnx());
  await copyFile(tokenizerPath, join(dir, 'tokenizer.json'));
  await writeFile(join(dir, 'config.json'), JSON.stringify({ model_type: 'bert', num_labels: 1, max_position_embeddings: 512 }));
  const files: RerankerManifest['files'] = {};
  for (const f of ['model.onnx', 'tokenizer.json', 'config.json']) {
    files[f] = { sha256: await sha256File(join(dir, f)), bytes: (await stat(join(dir, f))).size };
  }
  const manifest: RerankerManifest = {
    name: 'lexical-overlap-stand-in',
    hfId: 'none (test fixture)',
    kind: 'cross-encoder',
    maxTokens,
    scoring: 'sigmoid',
    positiveLabel: 1,
    onnxFile: 'model.onnx',
    tokenizerFile: 'tokenizer.json',
    files,
  };
  await writeFile(join(dir, RERANKER_MANIFEST_FILE), `${JSON.stringify(manifest, null, 2)}\n`);
  return dir;
}
