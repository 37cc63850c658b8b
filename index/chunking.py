"""Cut an article into passages: whole sentences, bounded in tokens.

Each chunk is a span of the article's text, so a quote found in a chunk has exact offsets
in the article. The bound is in tiktoken tokens (the unit people configure), and every
chunk is also checked against the embedding model's own word-piece limit, because
all-MiniLM-L6-v2 silently drops whatever comes after its 256th word piece.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from dataclasses import dataclass
from functools import lru_cache
from typing import Callable

import tiktoken

from index.sentences import sentence_spans

_WORD = re.compile(r"\S+")
_PARAGRAPH_FILL = 0.6  # past this share of the budget, a paragraph break ends the chunk


@dataclass(frozen=True)
class Chunk:
    index: int
    start: int
    end: int
    text: str
    # The chunk's sentences, (start, end) in the article: the article's sentences cut at
    # the chunk's ends (a sentence too long for one chunk is in several).
    sentences: tuple[tuple[int, int], ...] = ()


@dataclass(frozen=True)
class _Unit:
    start: int
    end: int
    tokens: int


@lru_cache(maxsize=1)
def _encoding() -> tiktoken.Encoding:
    return tiktoken.get_encoding("cl100k_base")


def count_tokens(text: str) -> int:
    return len(_encoding().encode(text, disallowed_special=()))


def _clipped(text: str, sentences: list[tuple[int, int]], start: int, end: int) -> tuple[tuple[int, int], ...]:
    """The sentences that overlap [start, end), cut to it: what splitting the chunk's own
    text again gives (bar a rare closing quote, which the article's context places), for
    a quarter less of the chunking's time."""
    at = bisect_right(sentences, (start, -1)) - 1 if sentences else 0
    found = []
    for s, e in sentences[max(at, 0):]:
        if s >= end:
            break
        s, e = max(s, start), min(e, end)
        if e > s and text[s:e].strip():
            found.append((s, e))
    return tuple(found)


class Chunker:
    def __init__(
        self,
        max_tokens: int,
        word_piece_limit: int | None = None,
        count_word_pieces: Callable[[str], int] | None = None,
    ) -> None:
        if max_tokens < 8:
            raise ValueError(f"max_tokens={max_tokens} is too small; use at least 8")
        if (word_piece_limit is None) != (count_word_pieces is None):
            raise ValueError("pass both word_piece_limit and count_word_pieces, or neither")
        self.max_tokens = max_tokens
        self.word_piece_limit = word_piece_limit
        self.count_word_pieces = count_word_pieces

    def split(self, text: str) -> list[Chunk]:
        sentences = sentence_spans(text)
        units: list[_Unit] = []
        for start, end in sentences:
            units.extend(self._bounded(text, start, end))
        spans: list[tuple[int, int]] = []
        for group in self._pack(text, units):
            spans.extend(self._fit_word_pieces(text, group))
        return [Chunk(i, s, e, text[s:e], _clipped(text, sentences, s, e)) for i, (s, e) in enumerate(spans)]

    def _bounded(self, text: str, start: int, end: int) -> list[_Unit]:
        """A sentence, or word-bounded pieces of it when it alone exceeds the budget."""
        tokens = count_tokens(text[start:end])
        if tokens <= self.max_tokens:
            return [_Unit(start, end, tokens)]
        pieces: list[_Unit] = []
        piece_start, piece_tokens, last_end = start, 0, start
        for word in _WORD.finditer(text, start, end):
            word_tokens = count_tokens(" " + word.group())
            if piece_tokens and piece_tokens + word_tokens > self.max_tokens:
                pieces.append(_Unit(piece_start, last_end, piece_tokens))
                piece_start, piece_tokens = word.start(), 0
            if word_tokens > self.max_tokens:  # one enormous "word": cut it by characters
                pieces.extend(self._cut_word(word.start(), word.end(), word_tokens))
                piece_start, piece_tokens, last_end = word.end(), 0, word.end()
                continue
            piece_tokens += word_tokens
            last_end = word.end()
        if piece_tokens:
            pieces.append(_Unit(piece_start, last_end, piece_tokens))
        return pieces

    def _cut_word(self, start: int, end: int, tokens: int) -> list[_Unit]:
        parts = -(-tokens // self.max_tokens) * 2  # generous: tokens per character vary
        step = max(1, (end - start) // parts)
        return [
            _Unit(s, min(s + step, end), self.max_tokens) for s in range(start, end, step)
        ]

    def _pack(self, text: str, units: list[_Unit]) -> list[list[_Unit]]:
        groups: list[list[_Unit]] = []
        current: list[_Unit] = []
        used = 0
        for unit in units:
            # +1: the space or newline that joins it to the previous sentence
            cost = unit.tokens + (1 if current else 0)
            new_paragraph = bool(current) and "\n\n" in text[current[-1].end : unit.start]
            if current and (
                used + cost > self.max_tokens
                or (new_paragraph and used >= _PARAGRAPH_FILL * self.max_tokens)
            ):
                groups.append(current)
                current, used, cost = [], 0, unit.tokens
            current.append(unit)
            used += cost
        if current:
            groups.append(current)
        return groups

    def _fit_word_pieces(self, text: str, group: list[_Unit]) -> list[tuple[int, int]]:
        start, end = group[0].start, group[-1].end
        if self.count_word_pieces is None or self.word_piece_limit is None:
            return [(start, end)]
        if self.count_word_pieces(text[start:end]) <= self.word_piece_limit:
            return [(start, end)]
        if len(group) > 1:
            half = len(group) // 2
            return self._fit_word_pieces(text, group[:half]) + self._fit_word_pieces(
                text, group[half:]
            )
        words = list(_WORD.finditer(text, start, end))
        if len(words) > 1:
            middle = words[len(words) // 2].start()
            left = _Unit(start, words[len(words) // 2 - 1].end(), 0)
            right = _Unit(middle, end, 0)
            return self._fit_word_pieces(text, [left]) + self._fit_word_pieces(text, [right])
        middle = (start + end) // 2
        if middle in (start, end):
            return [(start, end)]
        return self._fit_word_pieces(text, [_Unit(start, middle, 0)]) + self._fit_word_pieces(
            text, [_Unit(middle, end, 0)]
        )
