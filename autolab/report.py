"""Rendered text: the one bot comment on each trial's PR."""

from __future__ import annotations

import json
from functools import cache

import jinja2

from autolab.config import Lab
from autolab.records import LedgerRow, ScoreRow, Trial


@cache
def _env() -> jinja2.Environment:
    return jinja2.Environment(loader=jinja2.PackageLoader("autolab", "templates"),
                              keep_trailing_newline=True, autoescape=False)


def fmt(value) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.5g}"
    return str(value)


def comment(lab: Lab, trial: Trial, row: LedgerRow, scores: list[ScoreRow]) -> str:
    return _env().get_template("comment.md.j2").render(
        config=lab.config, trial=trial, row=row, fmt=fmt,
        best=scores[-1] if scores else None, baseline=scores[0] if scores else None,
        secondary=json.loads(row.secondary))
