"""A naive RFC 9162 reference tree, written straight from the recursive definitions (tests only).

MTH, PATH and PROOF/SUBPROOF exactly as in RFC 9162 sections 2.1.1, 2.1.3.1 and 2.1.4.1, memoised on the leaf
range so that checking every size pair up to 256 stays fast. Independent of ``registry.ledger.merkle`` except
for nothing: it uses hashlib directly.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache


class ReferenceTree:
    def __init__(self, leaves: list[bytes]) -> None:
        self.leaves = leaves
        self._mth = lru_cache(maxsize=None)(self._mth_uncached)

    @staticmethod
    def _k(n: int) -> int:
        k = 1
        while k * 2 < n:
            k *= 2
        return k

    def _mth_uncached(self, lo: int, hi: int) -> bytes:
        n = hi - lo
        if n == 0:
            return hashlib.sha256(b"").digest()
        if n == 1:
            return hashlib.sha256(b"\x00" + self.leaves[lo]).digest()
        k = self._k(n)
        return hashlib.sha256(b"\x01" + self._mth(lo, lo + k) + self._mth(lo + k, hi)).digest()

    def root(self, size: int) -> bytes:
        return self._mth(0, size)

    def leaf_hash(self, index: int) -> bytes:
        return self._mth(index, index + 1)

    def path(self, m: int, lo: int, hi: int) -> list[bytes]:
        n = hi - lo
        if n == 1:
            return []
        k = self._k(n)
        if m < k:
            return [*self.path(m, lo, lo + k), self._mth(lo + k, hi)]
        return [*self.path(m - k, lo + k, hi), self._mth(lo, lo + k)]

    def inclusion(self, index: int, size: int) -> list[bytes]:
        return self.path(index, 0, size)

    def subproof(self, m: int, lo: int, hi: int, whole: bool) -> list[bytes]:
        n = hi - lo
        if m == n:
            return [] if whole else [self._mth(lo, hi)]
        k = self._k(n)
        if m <= k:
            return [*self.subproof(m, lo, lo + k, whole), self._mth(lo + k, hi)]
        return [*self.subproof(m - k, lo + k, hi, False), self._mth(lo, lo + k)]

    def consistency(self, size1: int, size2: int) -> list[bytes]:
        return self.subproof(size1, 0, size2, True)
