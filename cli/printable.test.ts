import assert from 'node:assert/strict';
import { test } from 'node:test';
import { printable } from './printable.ts';

test('terminal control sequences from documents are shown, not interpreted', () => {
  assert.equal(printable('a\u001b[2Jb\u0007c'), 'a\\u{1b}[2Jb\\u{7}c');
  assert.equal(printable('safe \u202eevil'), 'safe \\u{202e}evil');
  assert.equal(printable('line\tone\nline two, ü 日本'), 'line\tone\nline two, ü 日本');
});
