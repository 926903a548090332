"""File names that come from Zoho are untrusted: parse them, then make them safe to write.

:func:`filename_from_content_disposition` reads the RFC 6266/5987 header Zoho sends with downloads;
:func:`safe_filename` turns any string into one path component that cannot leave the destination
directory on any operating system: no separators (of either OS, nor their Unicode look-alikes), no
``..``, no absolute paths, no NUL or control characters, no Windows reserved names, no trailing dots
or spaces, at most 200 bytes of UTF-8 (leaving room for a de-duplicating suffix and a temp name).
"""

from __future__ import annotations

import re
import unicodedata
from pathlib import PurePosixPath
from urllib.parse import unquote

__all__ = ["filename_from_content_disposition", "safe_filename", "suffixed_filename"]

MAX_NAME_BYTES = 200

_WINDOWS_RESERVED = {
    "CON",
    "PRN",
    "AUX",
    "NUL",
    "CONIN$",
    "CONOUT$",
    *(f"COM{i}" for i in range(10)),
    *(f"LPT{i}" for i in range(10)),
    *(f"COM{c}" for c in "¹²³"),
    *(f"LPT{c}" for c in "¹²³"),
}
# Characters Windows forbids in names, plus both separators; control characters are handled apart.
_FORBIDDEN = set('<>:"/\\|?*')
# Unicode characters that render as, or normalise towards, a slash or a backslash.
_SEPARATOR_LOOKALIKES = set("\u2044\u2215\u29f8\u29f9\u2216\ufe68\uff0f\uff3c\u2571\u2572\u1735\u244a")


def _is_separator_lookalike(ch: str) -> bool:
    # Anything whose compatibility form holds a slash or a backslash, and the known look-alikes.
    if ch in _SEPARATOR_LOOKALIKES:
        return True
    if ch.isascii():
        return False
    folded = unicodedata.normalize("NFKC", ch)
    return "/" in folded or "\\" in folded


_PARAM = re.compile(
    r"""(?ix)
    (?:^|;)\s*
    (?P<name>filename\*?)\s*=\s*
    (?P<value>"(?:[^"\\]|\\.)*"|[^;]*)
    """
)


def filename_from_content_disposition(header: str | None) -> str | None:
    """
    Return the file name of a ``Content-Disposition`` header, or ``None``.

    ``filename*`` (RFC 5987: ``UTF-8''percent-encoded``) wins over ``filename`` (quoted or bare).
    The result is *not* safe yet: pass it through :func:`safe_filename`.

    >>> filename_from_content_disposition("attachment;filename*=UTF-8''Contrat%20%C3%A9t%C3%A9.pdf")
    'Contrat été.pdf'
    >>> filename_from_content_disposition('attachment; filename="report.csv"')
    'report.csv'
    """
    if not header:
        return None
    plain: str | None = None
    extended: str | None = None
    for match in _PARAM.finditer(header):
        name = match.group("name").lower()
        value = match.group("value").strip()
        if name == "filename*":
            extended = _decode_extended(value)
        else:
            if len(value) >= 2 and value[0] == value[-1] == '"':
                value = re.sub(r"\\(.)", r"\1", value[1:-1])
            plain = value or None
    return extended or plain


def _decode_extended(value: str) -> str | None:
    if len(value) >= 2 and value[0] == value[-1] == '"':
        value = value[1:-1]
    charset, sep, rest = value.partition("'")
    if not sep:
        return unquote(value) or None
    _language, sep, encoded = rest.partition("'")
    if not sep:
        return None
    try:
        return unquote(encoded, encoding=charset or "utf-8", errors="replace") or None
    except LookupError:  # an unknown charset name
        return unquote(encoded, errors="replace") or None


def safe_filename(name: str | None, *, fallback: str) -> str:
    """
    Return ``name`` as one safe path component, or ``fallback`` if nothing usable is left.

    :param name: an untrusted name (from a header or a Zoho record).
    :param fallback: a safe name to use instead (e.g. ``attachment-<id>``); it is sanitised too.

    >>> safe_filename("../../etc/passwd", fallback="x")
    'passwd'
    >>> safe_filename("C:\\\\Windows\\\\win.ini", fallback="x")
    'win.ini'
    >>> safe_filename("...", fallback="attachment-1")
    'attachment-1'
    """
    cleaned = _clean(name or "")
    if not cleaned:
        cleaned = _clean(fallback) or "attachment"
    return cleaned


def _clean(name: str) -> str:
    # NFC, not NFKC: compatibility folding would turn "Q1 ½" and "Q3 ½" (and ², ﬁ, full-width
    # letters) into other characters and make distinct names collide. The user's characters are
    # kept; only the look-alikes of separators, which NFKC would have turned into "/", are treated
    # as separators.
    text = unicodedata.normalize("NFC", name)
    text = "".join("/" if _is_separator_lookalike(ch) else ch for ch in text)
    # Keep only the last component, whichever separator was used.
    text = re.split(r"[/\\]", text)[-1]
    text = "".join(
        "_" if ch in _FORBIDDEN else ch
        for ch in text
        # Controls, invisible formatting (bidi overrides that disguise extensions), surrogates,
        # private-use and unassigned code points have no business in a file name.
        if unicodedata.category(ch) not in ("Cc", "Cf", "Cs", "Co", "Cn")
    )
    # Until nothing changes: "report.pdf. . " would otherwise keep a trailing dot.
    stripped = None
    while stripped != text:
        stripped, text = text, text.strip().strip(".")
    if not text or set(text) <= {".", " "}:
        return ""
    # Windows reserves CON, NUL, COM1... with any extension ("nul.txt" is the null device too).
    if text.partition(".")[0].upper().rstrip() in _WINDOWS_RESERVED:
        text = "_" + text
    return _truncate(text, MAX_NAME_BYTES)


def _truncate(name: str, limit: int) -> str:
    if len(name.encode("utf-8")) <= limit:
        return name
    path = PurePosixPath(name)
    suffix = path.suffix if 0 < len(path.suffix.encode("utf-8")) <= 20 else ""
    stem = name[: len(name) - len(suffix)] if suffix else name
    budget = limit - len(suffix.encode("utf-8"))
    encoded = stem.encode("utf-8")[:budget]
    stem = encoded.decode("utf-8", errors="ignore").rstrip(". ")
    return (stem or "attachment") + suffix


def suffixed_filename(name: str, tag: str) -> str:
    """
    Return ``name`` with ``tag`` before its extension: ``report.pdf`` -> ``report (tag).pdf``.

    Used to give a clashing download a deterministic name (the tag is the attachment id).
    """
    path = PurePosixPath(name)
    suffix = path.suffix if 0 < len(path.suffix) <= 20 else ""
    stem = name[: len(name) - len(suffix)] if suffix else name
    addition = f" ({tag})"
    stem = _truncate(stem, MAX_NAME_BYTES - len(addition.encode()) - len(suffix.encode()))
    return f"{stem}{addition}{suffix}"
