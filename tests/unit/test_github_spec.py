"""The checker of exchanges against GitHub's REST description can fail, and fails on what
GitHub documents otherwise (issue 22). Skipped, with the command that installs it, when the
description is absent."""

from __future__ import annotations

import github_spec
import pytest

pytestmark = pytest.mark.skipif(not github_spec.available(),
                                reason=f"GitHub's REST description is not installed: "
                                       f"{github_spec.INSTALL}")
PULL = "/api/v3/repos/o/r/pulls/7"


def test_a_documented_exchange_passes():
    assert github_spec.check("GET", PULL, 200, None, {"number": 7, "mergeable": None,
                                                      "state": "open"}) == []
    assert github_spec.check("POST", "/api/v3/repos/o/r/statuses/" + "a" * 40, 201,
                             {"state": "success", "context": "autolab/metric"},
                             {"id": 1, "state": "success"}) == []


@pytest.mark.parametrize("exchange, complaint", [
    (("GET", "/api/v3/repos/o/r/nowhere", 200, None, {}), "no such operation"),
    (("DELETE", PULL, 204, None, None), "no such operation"),
    (("GET", PULL, 418, None, {}), "status not documented"),
    (("GET", PULL, 200, None, {"number": "seven"}), "'seven' is not of type 'integer'"),
    (("GET", PULL, 200, None, {"state": "merged"}), "is not one of"),
    (("GET", PULL, 200, None, {"title": None}), "None for not nullable"),
    (("POST", "/api/v3/repos/o/r/statuses/" + "a" * 40, 201, {"context": "x"}, {}),
     "'state' is a required property"),
    (("POST", "/api/v3/repos/o/r/issues/7/labels", 200, ["a", "b"], []),
     "is not valid under any of the given schemas"),
    (("PUT", "/api/v3/repos/o/r/pulls/7/merge", 405, {"merge_method": "octopus"}, {}),
     "is not one of"),
])
def test_what_breaks_the_description_is_named(exchange, complaint):
    problems = github_spec.check(*exchange)
    assert problems and complaint in problems[0], problems


def test_the_most_literal_path_names_the_operation():
    template, _op = github_spec.operation("GET", "/repos/o/r/commits/abc/statuses")
    assert template == "/repos/{owner}/{repo}/commits/{ref}/statuses"
