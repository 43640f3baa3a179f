"""Seeded PRNG identical to ``static/js/prng.js``: a Weyl sequence (step 0x9E3779B9) through
the murmur3 32-bit finalizer, integer-only, so the same seed gives the same stream in
Python and every JS engine (impairment schedules replay across languages)."""

from __future__ import annotations

import logging
import math

logger = logging.getLogger(__name__)

_M32 = 0xFFFFFFFF
TWO_POW_32 = 4294967296


class Prng:
    """``next()`` u32, ``float()`` in [0, 1), ``int(n)``, ``range(lo, hi)``, ``fork()``."""

    __slots__ = ("state",)

    def __init__(self, seed: int) -> None:
        if isinstance(seed, bool) or not isinstance(seed, (int, float)) or seed != seed:
            raise TypeError(f"Prng seed must be a finite number, got {seed!r}")
        self.state = int(seed) & _M32

    def next(self) -> int:
        self.state = (self.state + 0x9E3779B9) & _M32
        z = self.state
        z = ((z ^ (z >> 16)) * 0x85EBCA6B) & _M32
        z = ((z ^ (z >> 13)) * 0xC2B2AE35) & _M32
        return (z ^ (z >> 16)) & _M32

    def float(self) -> float:
        return self.next() / TWO_POW_32

    def int(self, n: int) -> int:
        if isinstance(n, bool) or not isinstance(n, int) or n < 1 or n > TWO_POW_32:
            raise ValueError(f"Prng.int(n) needs an integer n in [1, 2**32], got {n!r}")
        # JS multiplies in doubles: the product above 2**53 is rounded before the division,
        # so round it the same way (float() of an int rounds to nearest even, as JS does).
        return math.floor(float(self.next() * n) / TWO_POW_32)

    def range(self, lo: float, hi: float) -> float:
        return lo + (hi - lo) * self.float()

    def fork(self) -> "Prng":
        return Prng(self.next())
