"""Normalize text and strip boilerplate lines, so that equal content compares equal.

Cleaning runs before deduplication: two copies of a page that differ only in
full-width characters, trailing spaces or a cookie banner are the same document.
Every function here is pure.

Boilerplate is a deliberately small, conservative set of whole-line patterns, each
limited to short lines so that prose mentioning "copyright" or "cookies" survives:

- copyright notices: "© 2024 Acme", "Copyright (c) 2019 ...", "... All rights reserved."
- cookie banners: "We use cookies ...", "This site uses cookies ...", "Accept all cookies"
- navigation: "Skip to main content", "Back to top", "Next page", and a lone row of three or
  more items of one to three plain words between separators ("Home | About | Contact",
  "Docs › API › Files"); rows next to another such row are a table and are kept
- link prompts: "Click here ...", "Read more", "Continue reading"
- page numbers: "Page 3", "Page 3 of 10", "3 of 10", "- 4 -" (a bare number is kept: it is as
  often a value in a table or an example's output)
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

_BOILERPLATE_MAX_CHARS = 160
_MENU_SEPARATORS = re.compile(r"\s*(?:\||·|•|»|›)\s*")
_MENU_ITEM = re.compile(r"(?=.*[^\W\d_])[^\W_][\w&'-]*(?: [\w&'-]+){0,2}")  # 1-3 plain words, a letter among them
_BOILERPLATE = re.compile(
    r"""
    (?:©|\(c\)|copyright\b)\s*(?:©|\(c\))?\s*\d{4}.*   # copyright with a year
    | .*\ball\ rights\ reserved\b.*
    | (?:we|this\ (?:web)?site)\ uses?\ cookies\b.*
    | (?:accept|reject|allow|manage)\ (?:all\ )?cookies\b.*
    | cookie\ (?:policy|settings|preferences)
    | skip\ to\ (?:main\ )?content | back\ to\ top | toggle\ navigation | (?:main\ )?menu
    | (?:next|previous|prev)(?:\ page)?
    | click\ here\b.* | read\ more | continue\ reading
    | page\ \d{1,4}(?:\ of\ \d{1,4})? | \d{1,4}\ of\ \d{1,4} | -\ ?\d{1,4}\ ?-  # page numbers
    """,
    re.IGNORECASE | re.VERBOSE,
)
_CONTROL = re.compile(r"[\x00-\x08\x0e-\x1f\x7f\ufeff]")  # tab and line breaks excepted
_INNER_SPACE = re.compile(r"(?<=\S)[ \t]+")


def normalize_unicode(text: str) -> str:
    """NFKC: full-width letters, ligatures and non-breaking spaces become their plain forms."""
    return unicodedata.normalize("NFKC", text)


def normalize_line(line: str) -> str:
    """Drop control characters, collapse runs of spaces and tabs, strip the end; indentation is kept."""
    return _INNER_SPACE.sub(" ", _CONTROL.sub("", line)).rstrip()


def is_boilerplate(line: str) -> bool:
    """Whether a (normalized) line is a notice, banner, link prompt or page number."""
    stripped = line.strip()
    return 0 < len(stripped) <= _BOILERPLATE_MAX_CHARS and _BOILERPLATE.fullmatch(stripped) is not None


def is_menu_row(line: str) -> bool:
    """A row of three or more short plain items between separators: a site menu or a table row."""
    items = _MENU_SEPARATORS.split(line.strip())
    return len(items) >= 3 and all(_MENU_ITEM.fullmatch(item) for item in items)


def drop_boilerplate(lines: list[str]) -> list[str]:
    """Lines minus boilerplate and lone menu rows (a menu row beside another is a table)."""
    menu = [is_menu_row(line) for line in lines]
    return [
        line
        for i, line in enumerate(lines)
        if not is_boilerplate(line)
        and not (menu[i] and not (i > 0 and menu[i - 1]) and not (i + 1 < len(menu) and menu[i + 1]))
    ]


def join_paragraphs(lines: Iterable[str]) -> str:
    """Join lines keeping at most one blank line between paragraphs, none at the ends."""
    out: list[str] = []
    for line in lines:
        if line or (out and out[-1]):
            out.append(line)
    while out and not out[-1]:
        out.pop()
    return "\n".join(out)


def clean_text(text: str) -> str:
    """The cleaned text: normalized, boilerplate lines removed, paragraphs tidied."""
    lines = [normalize_line(line) for line in normalize_unicode(text).splitlines()]
    return join_paragraphs(drop_boilerplate(lines))
