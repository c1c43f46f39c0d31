"""Time before it is spent: the estimated duration of a long loop, logged once a few of its
steps have been timed (training steps, generation batches). The tqdm bars stay as they are."""

from __future__ import annotations

import logging
import time

logger = logging.getLogger(__name__)


def duration_text(seconds: float) -> str:
    """``45 s``, ``3.2 min`` or ``1.5 h``."""
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def estimate_message(desc: str, done: int, seconds: float, left: int, unit: str = "step") -> str:
    """The line logged once ``done`` units took ``seconds``: time per unit x the ``left`` units."""
    per = seconds / max(done, 1)
    total = per * (done + left)
    return (
        f"{desc}: {per:.2f} s/{unit} over the first {done} {_plural(unit, done)}; "
        f"estimated total ~{duration_text(total)} "
        f"(~{duration_text(per * left)} left for {left} {_plural(unit, left)})"
    )


def _plural(unit: str, n: int) -> str:
    if n == 1:
        return unit
    return unit + ("es" if unit.endswith(("s", "ch", "sh", "x")) else "s")


class LoopEstimate:
    """Call :meth:`tick` after each unit of a loop of ``total`` units; after ``after`` units
    (and only if more are left; ``after=0``: never) it logs :func:`estimate_message` once, on
    ``log`` (this module's logger by default)."""

    def __init__(
        self,
        desc: str,
        total: int,
        after: int = 1,
        unit: str = "step",
        log: logging.Logger | None = None,
    ) -> None:
        self.desc, self.total, self.after, self.unit = desc, total, after, unit
        self.log = log or logger
        self.done = 0
        self.start = time.perf_counter()

    def tick(self) -> None:
        self.done += 1
        if self.after and self.done == self.after and self.done < self.total:
            seconds = time.perf_counter() - self.start
            left = self.total - self.done
            self.log.info(estimate_message(self.desc, self.done, seconds, left, self.unit))
