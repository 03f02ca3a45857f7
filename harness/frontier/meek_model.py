"""The loss-gap model of "Meek Models Shall Inherit the Earth" (Gundlach, Lynch, Thompson, arXiv:2507.07931): a meek
actor with a fixed training budget against a frontier actor whose investment grows exponentially, both riding the same
algorithmic and hardware progress, on the Chinchilla compute-optimal loss curve L(C) = A * C^-alpha + L0.

    meek compute      C_m(t) = C0 * (g_alg * g_h)^t
    frontier compute  C_f(t) = C0 * (g_alg * g_h * g_i)^t
    loss gap          dL(t)  = A * C_m(t)^-alpha - A * C_f(t)^-alpha          (nats per token; L0 cancels)
    peak              t*     = ln(ln(g_h g_alg g_i) / ln(g_h g_alg)) / (alpha ln g_i)

The gap opens, peaks at t*, then closes towards zero. The parameters are those of ../shared/data/meek_models_paper.md,
where every one marked [S] comes from secondary summaries of the paper, not the paper's own text; they are options.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class MeekModel:
    alpha: float = 0.155  # [S] exponent of the compute-optimal loss curve
    a: float = 1070.0  # [S] its scale (the Chinchilla envelope: 1071 by our own derivation)
    c0: float = 1e17  # [S, unverified] FLOP that the $1000 starting budget buys
    g_invest: float = 3.57  # [S] frontier investment growth per year
    g_alg: float = 2.8  # [S] algorithmic progress per year, shared
    g_hw: float = 1.4  # [S] hardware price-performance per year, shared

    def __post_init__(self) -> None:
        for name in ("alpha", "a", "c0"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be positive")
        for name in ("g_invest", "g_alg", "g_hw"):
            if not getattr(self, name) > 1:
                raise ValueError(f"{name} must be above 1 (growth per year)")

    def gap(self, years: np.ndarray) -> np.ndarray:
        """dL at `years` after the start (nats per token)."""
        shared = self.g_alg * self.g_hw
        meek = self.c0 * shared**years
        frontier = self.c0 * (shared * self.g_invest) ** years
        return self.a * meek ** (-self.alpha) - self.a * frontier ** (-self.alpha)

    @property
    def peak_years(self) -> float:
        shared = self.g_alg * self.g_hw
        return math.log(math.log(shared * self.g_invest) / math.log(shared)) / (self.alpha * math.log(self.g_invest))
