"""reports/scores.csv: parse and append round trip."""

from __future__ import annotations

from autolab import scores
from autolab.records import ScoreRow


def row(trial_id: str, metric: float, hypothesis: str = "plain") -> ScoreRow:
    return ScoreRow(trial_id=trial_id, pr="12", commit_sha="a" * 40, parent_sha="b" * 40,
                    metric=metric, metric_std=0.0125, n_seeds=3, delta=-0.25,
                    hypothesis=hypothesis, config_sha256="c" * 64, evaluator_sha256="d" * 64,
                    merged_at="2025-01-01T00:00:00Z")


def test_header_on_empty_or_missing_file():
    for start in (None, b"", b"\n"):
        data = scores.append(start, row("baseline", 1.5))
        lines = data.decode().splitlines()
        assert lines[0] == ",".join(ScoreRow.columns())
        assert len(lines) == 2


def test_round_trip_keeps_types_and_quoting():
    tricky = 'Set LR, then "warm up" from 0.04\nto 0.08'
    data = scores.append(scores.append(None, row("baseline", 1.5)), row("t1", 1.25, tricky))
    parsed = scores.parse(data)
    assert parsed == [row("baseline", 1.5), row("t1", 1.25, tricky)]
    assert isinstance(parsed[1].n_seeds, int) and isinstance(parsed[1].metric, float)


def test_append_to_file_without_final_newline():
    data = scores.append(None, row("baseline", 1.5)).rstrip(b"\n")
    out = scores.append(data, row("t1", 1.0))
    assert [r.trial_id for r in scores.parse(out)] == ["baseline", "t1"]


def test_parse_empty_and_header_only():
    assert scores.parse(None) == []
    assert scores.parse(b"") == []
    assert scores.parse(scores.HEADER.encode()) == []


def test_noise_sigma_is_the_baseline_spread():
    assert scores.noise_sigma([]) == 0.0
    assert scores.noise_sigma([row("baseline", 1.5), row("t1", 1.0)]) == 0.0125
