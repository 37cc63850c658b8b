from pathlib import Path

import pytest

from index.chunking import Chunker, count_tokens
from index.embedding import Embedder
from index.sentences import sentence_spans

SEEDS = Path(__file__).resolve().parents[2] / "seeds"


@pytest.fixture(scope="module")
def embedder() -> Embedder:
    return Embedder()  # only its tokenizer is used here: no model is loaded


def test_chunks_are_whole_sentences_spanning_the_text(embedder: Embedder) -> None:
    text = (SEEDS / "venezuela-election-2018.txt").read_text().strip()
    chunks = Chunker(80, embedder.max_word_pieces, embedder.count_word_pieces).split(text)
    assert len(chunks) > 3
    for chunk in chunks:
        assert chunk.text == text[chunk.start : chunk.end]
        assert count_tokens(chunk.text) <= 80
        assert chunk.text[-1] in ".”\"!?" or "\n" not in chunk.text[-2:]
    # nothing lost: every non-space character is in some chunk, in order
    assert " ".join(c.text for c in chunks).split() == text.split()


def test_no_chunk_exceeds_the_models_word_piece_limit(embedder: Embedder) -> None:
    # Numbers, names and rare words cost many more word pieces than tiktoken tokens.
    sentence = "Gr\u00fcn\u00dfberger-Xylophagou 12,345.678 kWh/m\u00b2 (\u2248 0.9\u03c3) " * 40
    text = "Headline\n\n" + sentence.strip() + ". " + "Short one. " * 5
    chunker = Chunker(512, embedder.max_word_pieces, embedder.count_word_pieces)
    chunks = chunker.split(text)
    assert all(embedder.count_word_pieces(c.text) <= embedder.max_word_pieces for c in chunks)
    assert " ".join(c.text for c in chunks).split() == text.split()


def test_a_sentence_longer_than_the_budget_is_cut_at_words(embedder: Embedder) -> None:
    text = " ".join(f"word{i}" for i in range(600))  # no punctuation at all
    chunks = Chunker(50).split(text)
    assert len(chunks) > 5 and all(count_tokens(c.text) <= 50 for c in chunks)
    assert " ".join(c.text for c in chunks) == text


def test_one_enormous_unbroken_string_is_still_bounded(embedder: Embedder) -> None:
    text = "Title\n\n" + "x" * 20000
    chunker = Chunker(100, embedder.max_word_pieces, embedder.count_word_pieces)
    chunks = chunker.split(text)
    assert all(embedder.count_word_pieces(c.text) <= embedder.max_word_pieces for c in chunks)
    assert "".join(c.text for c in chunks).replace("Title", "") == "x" * 20000


def test_a_chunks_sentences_are_the_articles_cut_at_its_ends(embedder: Embedder) -> None:
    # Ingest takes them from here instead of splitting each chunk again; on the seeds the
    # two agree exactly (on 289,296 chunks of BBC and SQuAD text, all but 64 did: there the
    # article's context decides a closing quote's sentence, which the chunk's alone cannot).
    chunker = Chunker(60, embedder.max_word_pieces, embedder.count_word_pieces)
    for path in sorted(SEEDS.glob("*.txt")):
        text = path.read_text().strip()
        for chunk in chunker.split(text):
            assert chunk.sentences == tuple(sentence_spans(chunk.text, offset=chunk.start))
    # A sentence longer than a chunk is in each chunk that holds a part of it.
    long = "It rained " + "and rained " * 60 + "all day. Then it stopped."
    chunks = Chunker(50).split(long)
    assert len(chunks) > 2
    assert [c.sentences for c in chunks[:-1]] == [((c.start, c.end),) for c in chunks[:-1]]
    assert chunks[-1].sentences[-1] == (long.index("Then"), len(long))
