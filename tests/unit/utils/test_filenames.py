"""Untrusted file names: parsed from headers, then kept inside the destination whatever they say."""

from __future__ import annotations

import pytest

from airflow_provider_zoho_attach.utils.filenames import (
    MAX_NAME_BYTES,
    filename_from_content_disposition,
    safe_filename,
    suffixed_filename,
)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("attachment;filename*=UTF-8''contract.pdf", "contract.pdf"),
        ("attachment;filename*=UTF-8''Contrat%20%C3%A9t%C3%A9.pdf", "Contrat été.pdf"),
        ("attachment; filename=\"ascii.pdf\"; filename*=UTF-8''%E6%97%A5%E6%9C%AC.pdf", "日本.pdf"),
        ('attachment; filename="a \\"quoted\\" name.txt"', 'a "quoted" name.txt'),
        ("attachment; filename=bare.csv", "bare.csv"),
        ("attachment; filename*=ISO-8859-1'en'caf%E9.txt", "café.txt"),
        ("attachment; filename*=bogus-charset''x%41.txt", "xA.txt"),
        ("attachment", None),
        ("", None),
        (None, None),
    ],
)
def test_content_disposition(header, expected):
    assert filename_from_content_disposition(header) == expected


HOSTILE = [
    ("../../etc/passwd", "passwd"),
    ("/etc/passwd", "passwd"),
    ("..\\..\\windows\\win.ini", "win.ini"),
    ("C:\\Windows\\System32\\evil.dll", "evil.dll"),
    ("\\\\server\\share\\x.txt", "x.txt"),
    ("a\x00b.txt", "ab.txt"),
    ("line\nbreak\r.txt", "linebreak.txt"),
    ("tab\there.txt", "tabhere.txt"),
    ("\u202egnp.exe", "gnp.exe"),
    ("..", "fallback"),
    (".", "fallback"),
    ("....", "fallback"),
    ("   ", "fallback"),
    ("", "fallback"),
    ("CON", "_CON"),
    ("nul.txt", "_nul.txt"),
    ("com1.log", "_com1.log"),
    ("report.pdf.", "report.pdf"),
    ('a<b>c:d|e?f*g".txt', "a_b_c_d_e_f_g_.txt"),
    ("\uff0e\uff0e\uff0fsecret.txt", "secret.txt"),
    ("..\u2215..\u2215x.txt", "x.txt"),
    # The user's characters are kept (NFC): a ligature is no danger to any filesystem.
    ("fi\ufb01le.txt", "fi\ufb01le.txt"),
    ("e\u0301t\u00e9.txt", "\u00e9t\u00e9.txt"),
]


@pytest.mark.parametrize(("name", "expected"), HOSTILE)
def test_hostile_names_become_one_safe_component(name, expected):
    result = safe_filename(name, fallback="fallback")
    assert result == expected
    assert "/" not in result
    assert "\\" not in result
    assert "\x00" not in result
    assert result not in (".", "..")


def test_overlong_names_keep_their_extension():
    result = safe_filename("x" * 1000 + ".pdf", fallback="f")
    assert result.endswith(".pdf")
    assert len(result.encode()) <= MAX_NAME_BYTES


def test_overlong_multibyte_names_are_cut_on_a_character_boundary():
    result = safe_filename("é" * 600 + ".txt", fallback="f")
    assert len(result.encode()) <= MAX_NAME_BYTES
    result.encode("utf-8").decode("utf-8")


def test_suffix_is_deterministic_and_bounded():
    assert suffixed_filename("report.pdf", "123") == "report (123).pdf"
    assert suffixed_filename("noext", "9") == "noext (9)"
    long = suffixed_filename("y" * 300 + ".pdf", "5725767000001500017")
    assert long.endswith(" (5725767000001500017).pdf")
    assert len(long.encode()) <= MAX_NAME_BYTES
