"""The findings bundle's JSON text, byte for byte what ``json.JSONEncoder(ensure_ascii=False,
sort_keys=True, indent=1, allow_nan=False)`` writes, about twice as fast.

Why: with ``indent`` set, the standard library encodes in pure Python through nested
generators (its C encoder serves ``indent=None`` only, before Python 3.13); a bundle of tens
of megabytes spent over a second there. This encoder walks the document with plain
recursion into one list of pieces and uses the same C string escaper
(``json.encoder.encode_basestring``) and the same number formatting, so every byte is
the same; ``tests/test_report.py`` checks that against the standard encoder."""

from __future__ import annotations

import json.encoder
from collections.abc import Iterator
from typing import Any

_escape = json.encoder.encode_basestring  # the C escaper when available (ensure_ascii=False)
_PIECES = 1 << 16  # pieces gathered before a part is handed out (about a megabyte of text)


def _float(o: float) -> str:
    if o != o or o in (float("inf"), float("-inf")):
        raise ValueError("Out of range float values are not JSON compliant: " + repr(o))
    return float.__repr__(o)


def _key(k: Any) -> str:
    if isinstance(k, str):
        return _escape(k)
    if isinstance(k, float):
        return _escape(_float(k))
    if k is True:
        return '"true"'
    if k is False:
        return '"false"'
    if k is None:
        return '"null"'
    if isinstance(k, int):
        return _escape(int.__repr__(k))
    raise TypeError(f"keys must be str, int, float, bool or None, not {k.__class__.__name__}")


def _encode(o: Any, level: int, out: list[str]) -> None:
    if isinstance(o, str):
        out.append(_escape(o))
    elif o is None:
        out.append("null")
    elif o is True:
        out.append("true")
    elif o is False:
        out.append("false")
    elif isinstance(o, int):
        out.append(int.__repr__(o))
    elif isinstance(o, float):
        out.append(_float(o))
    elif isinstance(o, (list, tuple)):
        if not o:
            out.append("[]")
            return
        inner = "\n" + " " * (level + 1)
        out.append("[" + inner)
        sep = "," + inner
        first = True
        for v in o:
            if not first:
                out.append(sep)
            first = False
            _encode(v, level + 1, out)
        out.append("\n" + " " * level + "]")
    elif isinstance(o, dict):
        if not o:
            out.append("{}")
            return
        inner = "\n" + " " * (level + 1)
        out.append("{" + inner)
        sep = "," + inner
        first = True
        for k, v in sorted(o.items()):
            if not first:
                out.append(sep)
            first = False
            out.append(_key(k))
            out.append(": ")
            _encode(v, level + 1, out)
        out.append("\n" + " " * level + "}")
    else:
        raise TypeError(f"Object of type {o.__class__.__name__} is not JSON serializable")


def json_parts(doc: dict[str, Any]) -> Iterator[str]:
    """``doc`` as indented, key-sorted JSON (no trailing newline), in parts of about a
    megabyte: the long lists of the document are handed out as they are encoded."""
    if not doc:
        yield "{}"
        return
    out: list[str] = ["{\n "]
    first = True
    for k, v in sorted(doc.items()):
        if not first:
            out.append(",\n ")
        first = False
        out.append(_key(k))
        out.append(": ")
        if isinstance(v, (list, tuple)) and v:
            out.append("[\n  ")
            for i, item in enumerate(v):
                if i:
                    out.append(",\n  ")
                _encode(item, 2, out)
                if len(out) >= _PIECES:
                    yield "".join(out)
                    out = []
            out.append("\n ]")
        else:
            _encode(v, 1, out)
    out.append("\n}")
    yield "".join(out)
