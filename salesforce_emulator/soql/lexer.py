"""SOQL tokenizer: literals are decoded here, positions kept for Salesforce's error preamble."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from .context import Ctx

_TOKEN_RE = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<string>'(?:[^'\\]|\\.)*')
  | (?P<badstring>'(?:[^'\\]|\\.)*\Z)
  | (?P<datetime>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,3})?(?:Z|[+-]\d{2}:?\d{2}))
  | (?P<date>\d{4}-\d{2}-\d{2}(?![\w:]))
  | (?P<number>\d+(?:\.\d+)?|\.\d+)
  | (?P<ident>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)
  | (?P<op>!=|<>|<=|>=|=|<|>)
  | (?P<punct>[(),:+\-])
    """,
    re.VERBOSE | re.DOTALL,
)


_DOCUMENTED_DATETIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:Z|[+-]\d{2}:\d{2})")


@dataclass
class Tok:
    kind: str          # string, datetime, date, number, ident, op, punct, eof
    text: str
    pos: int
    value: Any = None  # decoded string literal

    @property
    def upper(self) -> str:
        return self.text.upper()


_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f", "'": "'", '"': '"', "\\": "\\"}


def _decode_string(ctx: Ctx, raw: str, pos: int) -> tuple[str, str]:
    """-> (value, LIKE pattern with '\\' as the escape character)."""
    body = raw[1:-1]
    value: list[str] = []
    like: list[str] = []
    i = 0
    while i < len(body):
        ch = body[i]
        if ch == "\\":
            nxt = body[i + 1]
            if nxt in _ESCAPES:
                value.append(_ESCAPES[nxt])
                like.append("\\\\" if nxt == "\\" else _ESCAPES[nxt])
            elif nxt in "%_":
                value.append(nxt)         # \% and \_ are literal in LIKE patterns
                like.append("\\" + nxt)
            elif nxt == "u" and re.fullmatch(r"[0-9a-fA-F]{4}", body[i + 2:i + 6]):
                value.append(chr(int(body[i + 2:i + 6], 16)))
                like.append(value[-1])
                i += 4
            else:
                raise ctx.malformed(pos + i + 1, f"Invalid string literal '{raw}'. Illegal character sequence "
                                                 f"'\\{nxt}' in string literal.")
            i += 2
            continue
        value.append(ch)
        like.append(ch)
        i += 1
    return "".join(value), "".join(like)


def tokenize(ctx: Ctx) -> list[Tok]:
    soql = ctx.soql
    toks: list[Tok] = []
    pos = 0
    while pos < len(soql):
        m = _TOKEN_RE.match(soql, pos)
        if not m:
            raise ctx.malformed(pos, f"unexpected token: '{soql[pos]}'")
        kind = m.lastgroup or ""
        text = m.group()
        if kind == "badstring":
            raise ctx.malformed(pos, f"line 1:{pos} mismatched character '<EOF>' expecting '''")
        if kind == "datetime" and not _DOCUMENTED_DATETIME.fullmatch(text):
            # SOQL and SOSL Reference, "Date Formats and Date Literals": YYYY-MM-DDThh:mm:ss
            # followed by +hh:mm, -hh:mm or Z only. Fractions and a colon-less offset are not
            # listed; refused (the exact message is unverified).
            raise ctx.malformed(pos, f"value of filter criterion for field is not a valid dateTime: {text}")
        if kind != "ws":
            tok = Tok(kind, text, pos)
            if kind == "string":
                tok.value = _decode_string(ctx, text, pos)
            toks.append(tok)
        pos = m.end()
    toks.append(Tok("eof", "<EOF>", len(soql)))
    return toks

