"""The bench recorder: figures, ratios against baselines measured in the same run, goals, and the output."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from contextlib import contextmanager, redirect_stdout
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@contextmanager
def quiet() -> Iterator[None]:
    """brownie prints every transaction; a bench prints one table."""
    with redirect_stdout(io.StringIO()):
        yield


@dataclass
class Figure:
    """One measured figure; `ratio` is value / baseline when the figure has a baseline from the same run."""

    name: str
    value: float
    unit: str
    baseline: str | None = None
    ratio: float | None = None
    goal: str | None = None  # e.g. "<= 2.0" (on the ratio when there is one, else on the value)
    note: str = ""

    def met(self) -> bool | None:
        if self.goal is None:
            return None
        op, _, bound = self.goal.partition(" ")
        subject = self.ratio if self.ratio is not None else self.value
        limit = float(bound.replace(",", "").rstrip("x"))
        return {"<=": subject <= limit, ">=": subject >= limit, "<": subject < limit, ">": subject > limit}[op]


@dataclass
class Bench:
    """Collects figures; sections read shared objects (the deployed suite, accounts) from `context`."""

    context: dict[str, Any] = field(default_factory=dict)
    figures: list[Figure] = field(default_factory=list)

    def record(self, name: str, value: float, unit: str = "gas", *, goal: str | None = None, note: str = "") -> Figure:
        figure = Figure(name, value, unit, goal=goal, note=note)
        self.figures.append(figure)
        return figure

    def compare(
        self, name: str, value: float, baseline_name: str, baseline: float, unit: str = "gas", *,
        goal: str | None = None, note: str = "",
    ) -> Figure:
        """Records `value` with its ratio to `baseline` (a figure measured in this same run)."""
        figure = Figure(name, value, unit, baseline_name, value / baseline if baseline else None, goal, note)
        self.figures.append(figure)
        return figure

    def value(self, name: str) -> float:
        for figure in self.figures:
            if figure.name == name:
                return figure.value
        raise KeyError(name)

    def as_json(self) -> dict[str, float]:
        """The flat name -> number object of reports/bench.json (ratios as `<name>.ratio`)."""
        flat: dict[str, float] = {}
        for figure in self.figures:
            flat[figure.name] = figure.value
            if figure.ratio is not None:
                flat[f"{figure.name}.ratio"] = round(figure.ratio, 4)
        return flat

    def table(self) -> str:
        from scripts.tables import render

        rows = []
        for f in self.figures:
            met = f.met()
            rows.append(
                (
                    f.name,
                    f"{f.value:,.0f}" if f.value >= 100 else f"{f.value:,.3g}",
                    f.unit,
                    f.baseline or "",
                    f"{f.ratio:.3f}" if f.ratio is not None else "",
                    f.goal or "",
                    "" if met is None else ("yes" if met else "NO"),
                )
            )
        return render(("figure", "value", "unit", "baseline (same run)", "ratio", "goal", "met"), rows)

    def write(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.as_json(), indent=1, sort_keys=True) + "\n")
