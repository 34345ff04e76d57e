"""Attacker-controlled text made safe to show (DESIGN rule 5): one public helper for the
report, the web UI, the alerts and the findings.

Names, handles and bios are chosen by the people we watch, so they are hostile input.
Jinja2 autoescaping handles ``<``, ``&`` and quotes in HTML text and attributes; this
module handles what autoescaping does not:

* control characters (NUL, C0/C1) and Unicode bidi overrides (U+202E "RTL override"
  and friends) are replaced by a visible ``⟨U+202E⟩`` marker, so a display name cannot
  reverse the sentence it is quoted in or hide characters from the reader;
* very long strings (10,000-character bios) are clipped for display;
* JSON embedded in a ``<script type="application/json">`` block is encoded so that no
  string inside can close the element or open a comment (``<``, ``>``, ``&``, U+2028/9
  become ``\\uXXXX`` escapes, which JSON parsers read back unchanged);
* CSV cells that a spreadsheet would run as a formula are neutralised.
"""

from __future__ import annotations

import json
import re
from typing import Any

from markupsafe import Markup, escape

# C0 controls except tab/newline/CR, DEL, C1 controls, bidi embeddings/overrides/isolates,
# LRM/RLM/ALM, zero-width joiners used to hide text, BOM, and lone surrogates.
_INVISIBLE = re.compile(
    "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u061c\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff\ud800-\udfff]"
)
DISPLAY_LIMIT = 280


def visible(text: object, limit: int | None = DISPLAY_LIMIT) -> str:
    """Plain text with hidden/control characters made visible and length clipped.

    The result is still *unescaped* text: pass it to Jinja2 (autoescape) or
    :func:`html_text`, never into markup directly.
    """
    if text is None:
        return ""
    s = str(text)
    clipped = False
    if limit is not None and len(s) > limit:
        s, clipped = s[:limit], True
    s = _INVISIBLE.sub(lambda m: f"⟨U+{ord(m.group(0)):04X}⟩", s)
    if clipped:
        s += f"… [{len(str(text)):,} characters, clipped]"
    return s


def html_text(text: object, limit: int | None = DISPLAY_LIMIT) -> Markup:
    """Escaped HTML for attacker-controlled text (also safe in SVG text and attributes)."""
    return escape(visible(text, limit))


def json_for_html(obj: Any) -> Markup:
    """JSON that can sit inside ``<script type="application/json">`` without any string
    in it ending the element: ``</script>``, ``<!--`` and friends are \\u-escaped."""
    raw = json.dumps(obj, ensure_ascii=False, sort_keys=True, separators=(",", ":"), allow_nan=False)
    raw = (
        raw.replace("&", "\\u0026")
        .replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("\u2028", "\\u2028")
        .replace("\u2029", "\\u2029")
    )
    # Invisible and bidi characters as \u escapes too: same data, nothing hidden in the file.
    raw = _INVISIBLE.sub(lambda m: f"\\u{ord(m.group(0)):04x}", raw)
    return Markup(raw)


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "|")


def csv_cell(value: object) -> object:
    """Neutralise spreadsheet formula injection in text cells (OWASP advice: prefix ')."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def anchor_id(prefix: str, raw: object) -> str:
    """A fragment id made only of [A-Za-z0-9_-], stable for the same input."""
    cleaned = re.sub(r"[^A-Za-z0-9_-]", "_", str(raw))
    return f"{prefix}-{cleaned}"
__all__ = ["DISPLAY_LIMIT", "anchor_id", "csv_cell", "html_text", "json_for_html", "visible"]
