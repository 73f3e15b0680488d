// Writes the PDF and DOCX members of the sample corpus (run once; the outputs are committed):
//   node samples/make-samples.ts
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import JSZip from 'jszip';

const dir = join(import.meta.dirname, 'corpus');

/** A minimal valid PDF: one page per entry of `pages`, each line drawn with Helvetica. */
export function makePdf(title: string, pages: string[][]): Buffer {
  const objects: string[] = [];
  const add = (body: string): number => objects.push(body);
  const catalog = add('');
  const pagesObj = add('');
  const font = add('<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>');
  const kids: number[] = [];
  for (const lines of pages) {
    const esc = (s: string) => s.replace(/[\\()]/g, (c) => `\\${c}`);
    const ops = ['BT', '/F1 11 Tf', '14 TL', '72 740 Td', ...lines.map((l) => `(${esc(l)}) Tj T*`), 'ET'].join('\n');
    const content = add(`<< /Length ${Buffer.byteLength(ops)} >>\nstream\n${ops}\nendstream`);
    kids.push(
      add(
        `<< /Type /Page /Parent ${pagesObj} 0 R /MediaBox [0 0 612 792] /Contents ${content} 0 R /Resources << /Font << /F1 ${font} 0 R >> >> >>`,
      ),
    );
  }
  objects[catalog - 1] = `<< /Type /Catalog /Pages ${pagesObj} 0 R >>`;
  objects[pagesObj - 1] = `<< /Type /Pages /Kids [${kids.map((k) => `${k} 0 R`).join(' ')}] /Count ${kids.length} >>`;
  const info = add(`<< /Title (${title}) >>`);
  // Offsets are tracked as the parts are added: measuring the growing string each time is quadratic on big PDFs.
  const parts: string[] = ['%PDF-1.4\n'];
  let length = parts[0]!.length;
  const offsets: number[] = [];
  objects.forEach((body, i) => {
    const part = `${i + 1} 0 obj\n${body}\nendobj\n`;
    offsets.push(length);
    parts.push(part);
    length += Buffer.byteLength(part, 'latin1');
  });
  parts.push(
    `xref\n0 ${objects.length + 1}\n0000000000 65535 f \n${offsets.map((o) => `${String(o).padStart(10, '0')} 00000 n \n`).join('')}`,
  );
  parts.push(`trailer\n<< /Size ${objects.length + 1} /Root ${catalog} 0 R /Info ${info} 0 R >>\nstartxref\n${length}\n%%EOF\n`);
  const out = parts.join('');
  return Buffer.from(out, 'latin1');
}

/** A minimal valid DOCX with one paragraph per entry. */
export async function makeDocx(paragraphs: string[]): Promise<Buffer> {
  const zip = new JSZip();
  zip.file(
    '[Content_Types].xml',
    '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>',
  );
  zip.file(
    '_rels/.rels',
    '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="word/document.xml"/></Relationships>',
  );
  const body = paragraphs
    .map((p) => `<w:p><w:r><w:t xml:space="preserve">${p.replace(/&/g, '&amp;').replace(/</g, '&lt;')}</w:t></w:r></w:p>`)
    .join('');
  zip.file(
    'word/document.xml',
    `<?xml version="1.0" encoding="UTF-8"?><w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body>${body}</w:body></w:document>`,
  );
  return zip.generateAsync({ type: 'nodebuffer', compression: 'DEFLATE' });
}

if (import.meta.main) {
  writeFileSync(
    join(dir, 'event-streaming.pdf'),
    makePdf('Event streaming with Kafka', [
      [
        'Event streaming with Kafka',
        '',
        'Kafka stores events in topics that are split into partitions. Events with the same key',
        'always land in the same partition, so they are read in the order they were written.',
        'Consumers in a consumer group share the partitions of a topic between them and commit',
        'the offset of the last event they processed.',
      ],
      [
        'Delivery guarantees',
        '',
        'Committing an offset only after an event has been handled gives at-least-once delivery:',
        'after a crash some events are read twice, so handlers must be idempotent. A dead-letter',
        'topic keeps malformed events, with the reason, for an operator to inspect.',
      ],
    ]),
  );
  writeFileSync(
    join(dir, 'embeddings-primer.docx'),
    await makeDocx([
      'Embeddings primer',
      'An embedding model maps a piece of text to a vector of a few hundred numbers, placing texts with similar meaning close together.',
      'Retrieval embeds the question with the same model and returns the stored chunks whose vectors are nearest, usually by cosine similarity.',
      'Some models expect a prefix or an instruction before the query or the document, and using the wrong one quietly ruins retrieval quality.',
    ]),
  );
  console.log(`wrote samples to ${dir}`);
}
