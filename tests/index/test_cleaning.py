import pytest

from index.cleaning import DecodeError, clean_text, decode


def test_utf8_with_bom_and_windows_1252_decode() -> None:
    assert decode("\ufeffcafé".encode("utf-8")) == "café"
    assert decode("café – naïve".encode("cp1252")) == "café – naïve"


def test_binary_and_undecodable_bytes_are_refused_with_a_reason() -> None:
    with pytest.raises(DecodeError, match="binary"):
        decode(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    with pytest.raises(DecodeError, match="cannot decode"):
        decode(bytes([0x81, 0x8D, 0x8F, 0x90, 0x9D]) * 10)


def test_clean_text_normalises_whitespace_and_strips_invisible_and_bidi_controls() -> None:
    raw = "Title\r\n\r\n\r\n\r\nOne  \t two\u00a0three.\u200b\u202eevil\u202c\x07\n\n"
    assert clean_text(raw) == "Title\n\nOne two three.evil"


def test_clean_text_composes_accents() -> None:
    assert clean_text("Cafe\u0301") == "Café"
