"""numpy's default random generator (``default_rng``: SeedSequence seeding, the PCG64 XSL-RR bit
generator), drawn in pure Python: the same numbers for the same seed, and the same state dict,
so a store policy's saved state reads back with either.

Why not ``numpy.random``: importing it costs a device process about 7 MB of resident memory
(its extension modules, and OpenSSL's libcrypto through ``secrets``), which is most of what the
filter may add to plain inference (benchmarks/results/device.md). The store's policies draw a
few numbers per arrival, so Python integers are fast enough; ``tests/test_pcg64.py`` holds every
draw to numpy's own.

>>> rng = default_rng((7, 3))
>>> round(rng.random(), 12), rng.integers(10)
(0.97503355372, 5)
>>> import numpy as np; g = np.random.default_rng((7, 3))
>>> round(g.random(), 12), int(g.integers(10))
(0.97503355372, 5)
"""

from __future__ import annotations

_M32, _M64, _M128 = (1 << 32) - 1, (1 << 64) - 1, (1 << 128) - 1
_PCG_MULTIPLIER = 0x2360ED051FC65DA44385DF649FCCF645
# SeedSequence's hash constants (O'Neill's seed_seq_fe, as numpy uses them)
_INIT_A, _MULT_A, _INIT_B, _MULT_B = 0x43B0D7E5, 0x931E8875, 0x8B51F9DD, 0x58F38DED
_MIX_MULT_L, _MIX_MULT_R, _XSHIFT, _POOL_SIZE = 0xCA01F9DD, 0x4973F715, 16, 4


def _uint32_words(entropy) -> list[int]:
    """An int or a (nested) sequence of ints as 32-bit words, least significant first."""
    if not isinstance(entropy, (tuple, list)):
        if isinstance(entropy, bool) or not hasattr(entropy, "__index__"):
            raise TypeError(f"a seed must be a non-negative int or a sequence of them, got {entropy!r}")
        entropy = entropy.__index__()  # numpy integers too
    if isinstance(entropy, (tuple, list)):
        return [w for part in entropy for w in _uint32_words(part)]
    if entropy < 0:
        raise ValueError(f"a seed must be non-negative, got {entropy}")
    words = [entropy & _M32]
    entropy >>= 32
    while entropy:
        words.append(entropy & _M32)
        entropy >>= 32
    return words


def _seed_pool(entropy) -> list[int]:
    """SeedSequence's entropy pool (4 words) for ``entropy``."""
    words = _uint32_words(entropy)
    hash_const = _INIT_A

    def hashmix(value: int) -> int:
        nonlocal hash_const
        value ^= hash_const
        hash_const = (hash_const * _MULT_A) & _M32
        value = (value * hash_const) & _M32
        return value ^ (value >> _XSHIFT)

    def mix(x: int, y: int) -> int:
        result = (_MIX_MULT_L * x - _MIX_MULT_R * y) & _M32
        return result ^ (result >> _XSHIFT)

    pool = [hashmix(words[i] if i < len(words) else 0) for i in range(_POOL_SIZE)]
    for src in range(_POOL_SIZE):
        for dst in range(_POOL_SIZE):
            if src != dst:
                pool[dst] = mix(pool[dst], hashmix(pool[src]))
    for src in range(_POOL_SIZE, len(words)):
        for dst in range(_POOL_SIZE):
            pool[dst] = mix(pool[dst], hashmix(words[src]))
    return pool


def _generate_uint64(pool: list[int], n: int) -> list[int]:
    """SeedSequence.generate_state(n, uint64): 2n 32-bit words, paired little-endian."""
    hash_const, words = _INIT_B, []
    for i in range(2 * n):
        value = pool[i % _POOL_SIZE] ^ hash_const
        hash_const = (hash_const * _MULT_B) & _M32
        value = (value * hash_const) & _M32
        words.append(value ^ (value >> _XSHIFT))
    return [words[2 * i] | (words[2 * i + 1] << 32) for i in range(n)]


class Generator:
    """The subset of ``numpy.random.Generator`` (PCG64) the store draws from: ``random()``,
    ``integers(n)`` and ``state``. Build it with :func:`default_rng`."""

    def __init__(self, state: int, inc: int):
        self._state, self._inc = state, inc
        self._has_uint32, self._uinteger = 0, 0

    def _next64(self) -> int:
        # PCG64: advance the 128-bit LCG, then output XSL-RR of the new state
        state = self._state = (self._state * _PCG_MULTIPLIER + self._inc) & _M128
        value, rot = ((state >> 64) ^ state) & _M64, state >> 122
        return ((value >> rot) | (value << (64 - rot))) & _M64

    def _next32(self) -> int:
        if self._has_uint32:
            self._has_uint32 = 0
            return self._uinteger
        value = self._next64()
        self._has_uint32, self._uinteger = 1, value >> 32
        return value & _M32

    def random(self) -> float:
        """A float in [0, 1), as ``Generator.random()``."""
        return (self._next64() >> 11) * (1.0 / 9007199254740992.0)

    def integers(self, high: int) -> int:
        """An int in [0, high), as ``Generator.integers(high)`` (Lemire's bounded method)."""
        if isinstance(high, bool) or not hasattr(high, "__index__") or high.__index__() < 1:
            raise ValueError(f"integers needs high >= 1, got {high!r}")
        span = high.__index__() - 1  # numpy's "rng": the largest value
        if span == 0:
            return 0
        if span > _M64:
            raise ValueError(f"integers draws below 2**64, got high={high}")
        if span <= _M32:
            draw, bits, mask = self._next32, 32, _M32
        else:
            draw, bits, mask = self._next64, 64, _M64
        if span == mask:
            return draw()
        excl = span + 1
        product = draw() * excl
        if product & mask < excl:
            threshold = (mask - span) % excl
            while product & mask < threshold:
                product = draw() * excl
        return product >> bits

    @property
    def state(self) -> dict:
        """The bit generator's state, the dict ``numpy.random.PCG64().state`` has (JSON-ready)."""
        return {"bit_generator": "PCG64", "state": {"state": self._state, "inc": self._inc},
                "has_uint32": self._has_uint32, "uinteger": self._uinteger}

    @state.setter
    def state(self, value: dict) -> None:
        if not isinstance(value, dict) or value.get("bit_generator") != "PCG64":
            raise ValueError(f"not a PCG64 state: {value!r:.80}")
        inner = value["state"]
        state, inc = int(inner["state"]), int(inner["inc"])
        has_uint32, uinteger = int(value["has_uint32"]), int(value["uinteger"])
        if not (0 <= state <= _M128 and 0 <= inc <= _M128 and inc & 1 and has_uint32 in (0, 1)
                and 0 <= uinteger <= _M32):
            raise ValueError("a PCG64 state needs state and inc below 2**128 (inc odd), has_uint32 0 or 1 "
                             "and uinteger below 2**32")
        self._state, self._inc, self._has_uint32, self._uinteger = state, inc, has_uint32, uinteger


def default_rng(seed) -> Generator:
    """``numpy.random.default_rng(seed)`` for a non-negative int or a sequence of them."""
    s_hi, s_lo, i_hi, i_lo = _generate_uint64(_seed_pool(seed), 4)
    generator = Generator(0, ((((i_hi << 64) | i_lo) << 1) | 1) & _M128)
    generator._next64()
    generator._state = (generator._state + ((s_hi << 64) | s_lo)) & _M128
    generator._next64()
    return generator
