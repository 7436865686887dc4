"""Salesforce record ids: 15-character base + the 3-character case-safe checksum suffix."""

from __future__ import annotations

BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_SUFFIX = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
_UPPER = {c: (1 if "A" <= c <= "Z" else 0) for c in BASE62}
# The 2-character "pod" part after the key prefix, as in 0035g00000....
POD = "5g"


def checksum(id15: str) -> str:
    """The real algorithm: for each 5-character chunk, bit i is set when character i is an
    uppercase letter; the 5-bit value indexes A..Z0..5."""
    out = []
    for start in (0, 5, 10):
        bits = 0
        for j, ch in enumerate(id15[start:start + 5]):
            if "A" <= ch <= "Z":
                bits |= 1 << j
        out.append(_SUFFIX[bits])
    return "".join(out)


def to18(value: str) -> str:
    if len(value) == 15:
        return value + checksum(value)
    if len(value) == 18:
        return value[:15] + checksum(value[:15])
    raise ValueError(value)


def is_valid_id(value: str) -> bool:
    if len(value) not in (15, 18) or any(c not in _UPPER for c in value):
        return False
    if len(value) == 18:
        # Salesforce accepts the suffix case-insensitively.
        return value[15:].upper() == checksum(value[:15])
    return True


def _b62(n: int, width: int) -> str:
    chars = []
    for _ in range(width):
        n, r = divmod(n, 62)
        chars.append(BASE62[r])
    if n:
        raise OverflowError("id counter overflow")
    return "".join(reversed(chars))


def make_id(key_prefix: str, counter: int) -> str:
    id15 = f"{key_prefix}{POD}0000{_b62(counter, 6)}"
    return id15 + checksum(id15)


def make_ids(key_prefix: str, start: int, count: int) -> list[str]:
    """``count`` consecutive ids from counter ``start``; fast path for bulk generation."""
    head = key_prefix + POD
    s1 = _SUFFIX[sum(_UPPER[c] << j for j, c in enumerate(head))]
    out: list[str] = []
    end = start + count
    q, r0 = divmod(start, 62)
    while len(out) < count:
        hi = _b62(q, 5)  # counter digits 0..4; digit 5 varies fastest
        chunk2 = "0000" + hi[0]
        s2 = _SUFFIX[_UPPER[hi[0]] << 4]
        rest = hi[1:]
        bits3 = sum(_UPPER[c] << j for j, c in enumerate(rest))
        prefix15 = head + chunk2 + rest
        stop = min(62, r0 + end - (q * 62 + r0))
        out.extend(f"{prefix15}{BASE62[r]}{s1}{s2}{_SUFFIX[bits3 | (_UPPER[BASE62[r]] << 4)]}"
                   for r in range(r0, stop))
        q += 1
        r0 = 0
    return out
