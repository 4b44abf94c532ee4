"""Bounds on what a venue sends, checked before a JSON decoder or a number conversion sees it.

A venue message is hostile input: a flipped byte, a truncated frame or a deliberately crafted one must end as
an unreadable message (the books are voided and rebuilt), never as a crash, a hang or a wrong level. The
decoders themselves cannot promise that: the C decoder cryptofeed uses (``yapic.json``) recurses without a
limit and crashed the process at a million nested brackets, ``json`` raises ``RecursionError`` at a
thousand; a bare JSON number such as ``1e999999999`` becomes a ``Decimal`` whose ``int()`` would build a
billion-digit integer; ``float()`` of a 400-digit integer raises ``OverflowError``, of ``"1e999"`` gives
``inf`` and of ``"1e-400"`` gives ``0.0`` (which would delete a level the venue still shows).

So before decoding, ``check_message`` bounds the text's length and nesting depth; while decoding,
``decimal_hook`` bounds every bare JSON float; after decoding, ``levels`` turns a venue's ``[price, size]``
texts into floats that are finite and within ``[MIN_PRICE, MAX_PRICE]`` / ``{0} | [MIN_SIZE, MAX_SIZE]``,
refusing a non-zero text that reads as zero. Real messages are far inside every bound (nesting 5,
numbers of at most 20 digits).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from decimal import Decimal
from itertools import accumulate, repeat
from operator import itemgetter, sub
from typing import Any, ClassVar

from sdk.adapters.events import FeedErrorKind, Level

MAX_MESSAGE_CHARS = 32 << 20
"""Longest message accepted (a full Coinbase or Bitstamp book is a few MiB)."""
MAX_JSON_DEPTH = 32
"""Deepest nesting of arrays and objects accepted; venues send at most 5 levels."""
MAX_NUMBER_CHARS = 40
"""Longest bare JSON float handed to ``decimal_hook``; real ones (if any) have at most 20 characters."""
MAX_NUMBER_EXPONENT = 99
"""Largest ``|adjusted exponent|`` of a bare JSON float: ``1e-05`` is read, ``1e999999999`` is refused."""
MIN_PRICE = 1e-12
MAX_PRICE = 1e12
MIN_SIZE = 1e-12
MAX_SIZE = 1e15

_OUTSIDE_STRUCTURE = bytes(sorted(set(range(256)) - set(b'[]{}"')))
_UNIFY = bytes.maketrans(b"{}", b"[]")
_STEPS = bytes.maketrans(b"[]", b"\x02\x00")
_NONZERO_MANTISSA = re.compile(r"[^eE]*[1-9]")
_ZERO_SPELLINGS = frozenset({"0", *("0." + "0" * n for n in range(1, 19))})
"""How venues spell a deleted level's size ("0", "0.00000000"): read as 0.0 without the mantissa check."""
_LIST = frozenset({list})
_STR = frozenset({str})
_first = itemgetter(0)
_second = itemgetter(1)


class MessageRefused(Exception):
    """A message outside the bounds above or not one the venue documents: the books it touches are void."""

    kind: ClassVar[FeedErrorKind] = FeedErrorKind.MALFORMED


class ValueRefused(MessageRefused):
    """A readable message carrying a value no venue sends (wrong type, out of range, non-finite)."""

    kind: ClassVar[FeedErrorKind] = FeedErrorKind.INVALID_VALUE


def json_depth(text: str) -> int:
    """An upper bound on the nesting of arrays and objects in ``text``, exact for well-formed JSON.

    Only C-level string operations on the message: keep brackets and quotes, drop what lies inside strings
    (escapes removed first), then strip innermost ``[]`` pairs once per level. A decoder reading the text
    left to right is never deeper than this before it meets its first syntax error."""
    raw = text.encode("utf-8", "surrogatepass")
    if b"\\" in raw:
        raw = raw.replace(b"\\\\", b"").replace(b'\\"', b"")
    skeleton = raw.translate(_UNIFY, _OUTSIDE_STRUCTURE)
    if b'"' in skeleton:
        skeleton = b"".join(skeleton.split(b'"')[::2])
    peeled = 0
    while skeleton and peeled <= MAX_JSON_DEPTH:
        shorter = skeleton.replace(b"[]", b"")
        if len(shorter) == len(skeleton):
            break
        skeleton, peeled = shorter, peeled + 1
    if not skeleton:
        return peeled
    # Unbalanced brackets remain (a truncated or crafted message): bound them by their running count.
    steps: Iterable[int] = map(sub, skeleton.translate(_STEPS), repeat(1))
    return peeled + max(accumulate(steps, initial=0))


def check_message(text: object) -> str:
    """``text`` if a JSON decoder may see it; raises ``MessageRefused`` naming the bound it breaks.

    A message with fewer brackets than the depth bound (most updates) costs two ``str.count``; a full
    book about a sixth of its decoding time."""
    if not isinstance(text, str):
        raise MessageRefused(f"expected text, got {type(text).__name__}")
    if len(text) > MAX_MESSAGE_CHARS:
        raise MessageRefused(f"message of {len(text)} characters exceeds {MAX_MESSAGE_CHARS}")
    if text.count("[") + text.count("{") > MAX_JSON_DEPTH:
        depth = json_depth(text)
        if depth > MAX_JSON_DEPTH:
            raise MessageRefused(f"nesting depth {depth} exceeds {MAX_JSON_DEPTH}")
    return text


def decimal_hook(text: str) -> Decimal:
    """``parse_float`` for the decoders: a bare JSON float as a ``Decimal`` of bounded length and exponent
    (``int()`` of ``Decimal("1e999999999")`` would build a billion-digit integer)."""
    if len(text) > MAX_NUMBER_CHARS:
        raise MessageRefused(f"bare number of {len(text)} characters exceeds {MAX_NUMBER_CHARS}")
    value = Decimal(text)
    if value and not -MAX_NUMBER_EXPONENT <= value.adjusted() <= MAX_NUMBER_EXPONENT:
        raise MessageRefused(f"bare number {text[:40]!r} is out of range")
    return value


def _shown(value: object) -> str:
    if isinstance(value, int) and value.bit_length() > 200:
        return f"<integer of {value.bit_length()} bits>"
    if isinstance(value, str | list | dict) and len(value) > 60:
        value = value[:60] if isinstance(value, str) else f"<{type(value).__name__} of {len(value)} items>"
    try:
        return repr(value)[:80]
    except Exception:  # whatever a decoder produced, naming it must not fail
        return f"<{type(value).__name__}>"


def _refuse(field: str, what: str, value: object) -> ValueRefused:
    return ValueRefused(f"{field}: {what}, got {_shown(value)}")


def level(price_text: object, size_text: object, field: str) -> Level:
    """One ``(price, size)`` from the venue's decimal texts: a finite price within ``[MIN_PRICE,
    MAX_PRICE]``, a size that is ``0`` (spelt with zeros only) or within ``[MIN_SIZE, MAX_SIZE]``.

    The hot path of every update: one call, no helper calls unless the level is refused."""
    if type(price_text) is not str or type(size_text) is not str:
        raise _refuse(field, "expected decimal strings", (price_text, size_text))
    try:
        price = float(price_text)
        size = float(size_text)
    except ValueError:
        raise _refuse(field, "expected decimal strings", (price_text, size_text)) from None
    if not MIN_PRICE <= price <= MAX_PRICE:
        raise _refuse(field, f"expected a price in [{MIN_PRICE:g}, {MAX_PRICE:g}]", price_text)
    if not MIN_SIZE <= size <= MAX_SIZE and (size != 0.0 or _NONZERO_MANTISSA.match(size_text)):
        raise _refuse(field, f"expected 0 or a size in [{MIN_SIZE:g}, {MAX_SIZE:g}]", size_text)
    return price, size


BULK_LEVELS = 16
"""From this many levels on, ``levels`` checks a list in bulk first."""


def levels(pairs: object, field: str) -> list[Level]:
    """``[[price, size, ...], ...]`` (decimal strings, as every venue here sends them) as checked floats.

    Full books run to thousands of levels: when every entry is well formed and every size is positive the
    whole list is checked in bulk (C-level ``map``, ``set``, ``min``, ``max``); anything else goes level by
    level, which also names the level at fault."""
    if type(pairs) is not list:
        raise _refuse(field, "expected a list of [price, size]", type(pairs).__name__)
    if len(pairs) >= BULK_LEVELS and set(map(type, pairs)) <= _LIST and min(map(len, pairs)) >= 2:
        prices_text = list(map(_first, pairs))
        sizes_text = list(map(_second, pairs))
        if set(map(type, prices_text)) <= _STR and set(map(type, sizes_text)) <= _STR:
            try:
                prices = list(map(float, prices_text))
                sizes = list(map(float, sizes_text))
            except ValueError:
                prices = sizes = []
            total = sum(prices) + sum(sizes)
            if (
                prices
                and total - total == 0.0  # every value finite
                and min(prices) >= MIN_PRICE
                and max(prices) <= MAX_PRICE
                and min(sizes) >= MIN_SIZE
                and max(sizes) <= MAX_SIZE
            ):
                return list(zip(prices, sizes, strict=True))
    out: list[Level] = []
    append = out.append
    for entry in pairs:
        if type(entry) is not list or len(entry) < 2:
            raise _refuse(field, "expected [price, size, ...]", entry)
        price_text = entry[0]
        size_text = entry[1]
        if type(price_text) is str and type(size_text) is str:
            # ``level`` inlined for the usual level (positive size, both in range): one call less per level.
            # Anything else, a zero size included, goes through ``level`` itself.
            try:
                price = float(price_text)
                size = float(size_text)
            except ValueError:
                price = size = 0.0
            if MIN_PRICE <= price <= MAX_PRICE and (
                MIN_SIZE <= size <= MAX_SIZE or size_text in _ZERO_SPELLINGS
            ):
                append((price, size))
                continue
        append(level(price_text, size_text, field))
    return out


def integer(value: object, field: str, *, low: int = 0, high: int = 2**63 - 1) -> int:
    """A sequence number, id or timestamp: a JSON integer or a string of at most 20 digits, in range."""
    if type(value) is str and 0 < len(value) <= 20 and value.isascii() and value.isdigit():
        number = int(value)
    elif type(value) is int:
        number = value
    else:
        raise _refuse(field, "expected an integer", value)
    if not low <= number <= high:
        raise _refuse(field, f"expected an integer in [{low}, {high}]", value)
    return number


def trade_values(price_value: Any, amount_value: Any, field: str) -> tuple[float, float]:
    """A parsed trade's price and amount (``Decimal`` from cryptofeed, or text): finite and in range."""
    try:
        price_f = float(price_value)
        amount_f = float(amount_value)
    except (TypeError, ValueError, OverflowError):
        raise _refuse(field, "expected a trade price and amount", (price_value, amount_value)) from None
    if not MIN_PRICE <= price_f <= MAX_PRICE or not MIN_SIZE <= amount_f <= MAX_SIZE:
        raise _refuse(field, "expected a trade price and amount in range", (price_f, amount_f))
    return price_f, amount_f
