"""Deterministic seeds: every random choice is a pure function of (suite seed, names...)."""
from __future__ import annotations

import hashlib

import numpy as np


def derive_seed(*parts: object) -> int:
    """A 63-bit seed from any parts (suite seed, room name, sample id, strategy key...).

    Stable across processes and platforms (SHA-256 of the parts' ``repr`` joined by NUL), unlike ``hash()``.
    """
    h = hashlib.sha256("\x00".join(repr(p) for p in parts).encode("utf-8")).digest()
    return int.from_bytes(h[:8], "little") & ((1 << 63) - 1)


def rng_for(*parts: object) -> np.random.Generator:
    """A numpy Generator seeded by :func:`derive_seed` of the parts."""
    return np.random.default_rng(derive_seed(*parts))
