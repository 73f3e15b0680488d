"""The model's own tokenizer (tokenizer.json, Hugging Face `tokenizers`), with TEI's truncation and offsets."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from tokenizers import Encoding, Tokenizer

from .batcher import TokenIds
from .errors import ApiError

Direction = Literal["right", "left"]


def too_long(max_len: int, given: int) -> ApiError:
    return ApiError(
        "Validation", f"Input validation error: `inputs` must have less than {max_len} tokens. Given: {given}"
    )


@dataclass(frozen=True)
class Token:
    id: int
    text: str
    special: bool
    start: int | None
    stop: int | None


def cut(ids: TokenIds, max_len: int, truncate: bool, direction: Direction) -> TokenIds:
    """Token ids sent by a client are final (no special tokens are added): cut them, or refuse them, at max_len."""
    if len(ids) <= max_len:
        return ids
    if not truncate:
        raise too_long(max_len, len(ids))
    return ids[:max_len] if direction == "right" else ids[len(ids) - max_len :]


class TextTokenizer:
    """Thread-safe: `tokenizers` encodes without shared mutable state here (no truncation or padding is ever set on
    the tokenizer; truncation works on each Encoding), and its batch calls run in parallel outside the GIL."""

    def __init__(self, path: str, max_len: int) -> None:
        self._tok = Tokenizer.from_file(path)
        self._tok.no_truncation()
        self._tok.no_padding()
        self.max_len = max_len
        self._single_specials = self._tok.num_special_tokens_to_add(False)
        self._pair_specials = self._tok.num_special_tokens_to_add(True)

    @staticmethod
    def load(model_dir: str, max_len: int) -> TextTokenizer | None:
        path = os.path.join(model_dir, "tokenizer.json")
        return TextTokenizer(path, max_len) if os.path.exists(path) else None

    def encode(self, texts: Sequence[str], truncate: bool, direction: Direction = "right") -> list[list[int]]:
        """Ids with the model's special tokens; an input over max_len is cut (specials kept) or refused (413)."""
        encodings: list[Encoding] = self._tok.encode_batch(list(texts), add_special_tokens=True)
        out: list[list[int]] = []
        for text, enc in zip(texts, encodings, strict=True):
            if len(enc.ids) <= self.max_len:
                out.append(enc.ids)
                continue
            if not truncate:
                raise too_long(self.max_len, len(enc.ids))
            bare = self._tok.encode(text, add_special_tokens=False)
            bare.truncate(max(1, self.max_len - self._single_specials), direction=direction)
            out.append(self._tok.post_process(bare, None, True).ids)
        return out

    def tokenize(self, texts: Sequence[str], add_special_tokens: bool) -> list[list[Token]]:
        """TEI's /tokenize: offsets in UTF-8 bytes of the input; special tokens have no offsets."""
        encodings: list[Encoding] = self._tok.encode_batch(list(texts), add_special_tokens=add_special_tokens)
        result: list[list[Token]] = []
        for text, enc in zip(texts, encodings, strict=True):
            raw = text.encode("utf-8")
            # Byte offset of every code-point boundary (the binding's offsets count code points).
            at = [0] * (len(text) + 1)
            for i, ch in enumerate(text):
                at[i + 1] = at[i] + len(ch.encode("utf-8"))
            tokens: list[Token] = []
            for tid, tok, special, (lo, hi) in zip(
                enc.ids, enc.tokens, enc.special_tokens_mask, enc.offsets, strict=True
            ):
                if special:
                    tokens.append(Token(tid, tok, True, None, None))
                else:
                    start, stop = at[lo], at[hi]
                    tokens.append(Token(tid, raw[start:stop].decode("utf-8", "replace"), False, start, stop))
            result.append(tokens)
        return result

    def encode_pairs(self, query: str, passages: Sequence[str], truncate: bool) -> list[tuple[list[int], list[int]]]:
        """(ids, type ids) of each (query, passage) pair in the tokenizer's pair template. With `truncate`, the query
        keeps at most half the room left by the template's special tokens and the passage is cut from its end (as our
        local cross-encoder does, connectors/rerankers/local-onnx.ts); without it a pair over max_len is refused."""
        room = self.max_len - self._pair_specials
        if room < 2:
            raise ApiError("Validation", f"a window of {self.max_len} tokens leaves no room for a pair")
        q = self._tok.encode(query, add_special_tokens=False)
        docs: list[Encoding] = self._tok.encode_batch(list(passages), add_special_tokens=False)
        if truncate and len(q.ids) > room // 2:
            q.truncate(room // 2, direction="right")
        out: list[tuple[list[int], list[int]]] = []
        for d in docs:
            total = len(q.ids) + len(d.ids)
            if total > room:
                if not truncate:
                    raise too_long(self.max_len, total + self._pair_specials)
                d.truncate(max(0, room - len(q.ids)), direction="right")
            pair = self._tok.post_process(q, d, True)
            out.append((pair.ids, pair.type_ids))
        return out
