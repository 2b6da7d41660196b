"""Exact arithmetic: dyadic matrices (integer matrix times 2^exp) and rigorous arb enclosures.

Every float32 is m * 2^e with integer m, so a float32 tensor is exactly an integer matrix
times a power of two, and sums and products of such matrices stay exact (`fmpz_mat`).
"""

from __future__ import annotations

import math

import flint
import numpy as np


class Dyadic:
    """An exact matrix `mat * 2**exp` with `mat` an fmpz_mat."""

    __slots__ = ("mat", "exp")

    def __init__(self, mat: flint.fmpz_mat, exp: int):
        self.mat = mat
        self.exp = exp

    @staticmethod
    def from_float32(arr: np.ndarray) -> "Dyadic":
        """The exact value of a float32 array of rank <= 2 (a vector becomes one row)."""
        arr = np.asarray(arr, dtype=np.float32)
        arr2 = arr.reshape(1, -1) if arr.ndim == 1 else arr
        mant, exps = np.frexp(arr2.astype(np.float64))  # x = mant * 2^exps, |mant| in [0.5, 1)
        ints = (mant * (1 << 24)).astype(np.int64)  # exact: float32 has 24 significant bits
        exps = exps.astype(np.int64) - 24
        nonzero = ints != 0
        base = int(exps[nonzero].min()) if nonzero.any() else 0
        shifts = np.where(nonzero, exps - base, 0)
        flat = [int(m) << int(s) for m, s in zip(ints.ravel().tolist(), shifts.ravel().tolist())]
        return Dyadic(flint.fmpz_mat(arr2.shape[0], arr2.shape[1], flat), base)

    @property
    def shape(self) -> tuple[int, int]:
        return (self.mat.nrows(), self.mat.ncols())

    def _aligned(self, other: "Dyadic") -> tuple[flint.fmpz_mat, flint.fmpz_mat, int]:
        e = min(self.exp, other.exp)
        a = self.mat * (flint.fmpz(1) << (self.exp - e)) if self.exp != e else self.mat
        b = other.mat * (flint.fmpz(1) << (other.exp - e)) if other.exp != e else other.mat
        return a, b, e

    def __add__(self, other: "Dyadic") -> "Dyadic":
        a, b, e = self._aligned(other)
        return Dyadic(a + b, e)

    def __sub__(self, other: "Dyadic") -> "Dyadic":
        a, b, e = self._aligned(other)
        return Dyadic(a - b, e)

    def __matmul__(self, other: "Dyadic") -> "Dyadic":
        return Dyadic(self.mat * other.mat, self.exp + other.exp)

    def transpose(self) -> "Dyadic":
        return Dyadic(self.mat.transpose(), self.exp)

    def with_exp(self, exp: int) -> "Dyadic":
        """The same value with a smaller (or equal) exponent."""
        if exp > self.exp:
            raise ValueError("can only lower the exponent exactly")
        return Dyadic(self.mat * (flint.fmpz(1) << (self.exp - exp)), exp)

    def rows(self, indices: list[int]) -> "Dyadic":
        cols = self.mat.ncols()
        flat = [self.mat[i, j] for i in indices for j in range(cols)]
        return Dyadic(flint.fmpz_mat(len(indices), cols, flat), self.exp)

    def broadcast_rows(self, n: int) -> "Dyadic":
        """A 1-row matrix repeated n times."""
        if self.mat.nrows() != 1:
            raise ValueError("broadcast_rows needs a single row")
        cols = self.mat.ncols()
        flat = [self.mat[0, j] for j in range(cols)] * n
        return Dyadic(flint.fmpz_mat(n, cols, flat), self.exp)

    def ints(self) -> list[list[int]]:
        """The integer matrix as nested Python ints (the value is ints * 2**exp)."""
        return [[int(x) for x in row] for row in self.mat.tolist()]

    def to_float64(self) -> tuple[np.ndarray, float]:
        """Float64 values and a bound `abs_err_floor`: |float - exact| <= 2^-53 |exact| + abs_err_floor.

        Raises OverflowError when a value does not fit in float64.
        """
        values = np.array([_dyadic_to_float(int(v), self.exp) for v in self.mat.entries()],
                          dtype=np.float64).reshape(self.shape)  # one correct rounding per value
        if not np.all(np.isfinite(values)):
            raise OverflowError("value too large for float64")
        return values, math.ldexp(1.0, -1074)


def float_enclosure(x: flint.arb, rel: float) -> float:
    """A float64 f with |x - f| <= rel * f for every point of the ball x (x > 0), checked rigorously.

    Raises ArithmeticError when no such float is found (e.g. x underflows or is too wide).
    """
    f = float(x.mid())
    if not (f > 0.0 and math.isfinite(f) and f >= 1e-300):
        raise ArithmeticError("enclosure not representable as a normal positive float")
    err = abs(x - flint.arb(f)).upper()
    if not (err <= flint.arb(f) * flint.arb(rel)):
        raise ArithmeticError("enclosure too wide for the requested relative error")
    return f


# --- Float64 interval arithmetic with outward rounding -------------------------------------------
# IEEE 754 addition, subtraction and multiplication are correctly rounded (error <= half an ulp), so
# moving a computed result one ulp outward with nextafter gives a rigorous bound. Every helper below
# returns a bound in the stated direction; NaN means "no bound" and callers treat it as failure.

INF = float("inf")


def up(x):
    """x moved one ulp towards +inf (an upper bound of the exact value that x is the rounding of)."""
    return np.nextafter(x, INF)


def down(x):
    """x moved one ulp towards -inf."""
    return np.nextafter(x, -INF)


def mul_upper(lo_a, hi_a, b_upper):
    """Upper bound of a*b for a in [lo_a, hi_a] with lo_a >= 0, and b <= b_upper: hi_a*b if b_upper >= 0 else lo_a*b."""
    return up(np.where(b_upper >= 0, hi_a, lo_a) * b_upper)


def sum_upper(x: np.ndarray) -> np.ndarray:
    """Upper bound of the sum over the last axis (each partial sum rounded up)."""
    total = np.zeros(x.shape[:-1])
    for i in range(x.shape[-1]):
        total = up(total + x[..., i])
    return total


def float_environment_ok() -> bool:
    """True when float64 arithmetic keeps subnormals (no flush-to-zero), which the error bounds assume."""
    tiny = np.float64(2.0 ** -1022)
    return bool(tiny / np.float64(4.0) > 0.0 and np.nextafter(np.float64(0.0), np.float64(1.0)) > 0.0
                and (np.array([tiny]) * np.float64(0.25))[0] > 0.0)


def dyadic_interval(d: Dyadic) -> tuple[np.ndarray, np.ndarray]:
    """Float64 arrays lo <= exact <= hi for every entry of a dyadic matrix (infinite where it does not fit)."""
    ints = [int(v) for v in d.mat.entries()]
    # each value v * 2^exp correctly rounded (error <= half an ulp), or +-inf when it exceeds the float range
    vals = np.array([_dyadic_to_float(v, d.exp) for v in ints], dtype=np.float64).reshape(d.shape)
    lo, hi = down(vals), up(vals)
    exact_zero = np.array([v == 0 for v in ints]).reshape(d.shape)
    lo = np.where(exact_zero, 0.0, lo)
    hi = np.where(exact_zero, 0.0, hi)
    return lo, hi


def _dyadic_to_float(v: int, exp: int) -> float:
    """v * 2^exp correctly rounded to float64: Python's float(int) and int / int round correctly, subnormals
    included. (Converting v first and scaling after would overflow for a huge v with a very negative exp.)"""
    try:
        return float(v << exp) if exp >= 0 else v / (1 << -exp)
    except OverflowError:
        return INF if v > 0 else -INF


def arb_float_bounds(x: flint.arb) -> tuple[float, float]:
    """Floats lo <= x <= hi for every point of the ball x (infinite bounds if it does not fit)."""
    if not x.is_finite():
        return -INF, INF
    lo_arb, hi_arb = x.lower(), x.upper()
    lo, hi = float(lo_arb), float(hi_arb)
    while not flint.arb(lo) <= lo_arb:  # exact comparisons of exact arbs; at most one step in practice
        lo = float(down(lo))
    while not flint.arb(hi) >= hi_arb:
        hi = float(up(hi))
    return lo, hi
