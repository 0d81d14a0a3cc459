"""The pages each merge commits, and the HTML dashboard of a 50-trial ledger, in Chromium.

The ledger is real: a toy lab's own `autolab run` (baseline, merges, discards), then 44
more rows of every ending appended through `Ledger.append` onto its ledger branch. A second
lab holds 1,000 trials brought in by `autolab import` from a wide results TSV.
"""

from __future__ import annotations

import json
import re
import subprocess
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from bench.dashboard import lab_with_import, probe, rendered_ms, synthetic_rows
from conftest import autolab, git, make_lab

from autolab import scores
from autolab.gitops import Repo
from autolab.ledger import Ledger
from autolab.records import BASELINE

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run",
         "--enable-logging=stderr", "--v=0", "--window-size=1280,2400"]


@pytest.fixture(scope="module")
def big_lab(tmp_path_factory) -> Path:
    lab = make_lab(tmp_path_factory.mktemp("dash") / "lab")
    autolab(lab, "run", "--trials", "6", "--parallel", "2")
    ledger = Ledger(Repo(lab), lab / ".autolab")
    rows = ledger.rows()
    ran = [r for r in rows if r.status != BASELINE]
    best = scores.parse(git(lab, "show", f"main:{scores.PATH}").encode() + b"\n")[-1]
    last = max(datetime.fromisoformat(r.started_at) for r in rows) + timedelta(seconds=5)
    for row in synthetic_rows(50 - len(ran), seed=7, first=100, baseline=best.metric, t0=last):
        assert ledger.append(row)
    return lab


def test_every_main_commit_carries_its_own_pages(big_lab):
    commits = git(big_lab, "log", "--first-parent", "--format=%H", "main",
                  "--", scores.PATH).split()
    frontiers = {sha: scores.parse(git(big_lab, "show", f"{sha}:{scores.PATH}").encode()
                                   + b"\n") for sha in commits}
    commits = [sha for sha in commits if frontiers[sha]]   # not `autolab init`'s header
    assert len(commits) >= 2                                # the baseline and a keep
    for sha in commits:
        changed = git(big_lab, "diff", "--name-only", f"{sha}^1", sha).split()
        assert {"reports/scores.csv", "reports/README.md", "reports/progress.svg"} <= set(
            changed)
        last = frontiers[sha][-1]
        readme = git(big_lab, "show", f"{sha}:reports/README.md")
        assert f"| 1 | {last.trial_id} | **" in readme   # the new best leads the board
        svg = git(big_lab, "show", f"{sha}:reports/progress.svg")
        assert svg.startswith("<svg") and 'class="best"' in svg


def test_report_writes_one_self_contained_page(big_lab, tmp_path):
    out = tmp_path / "site" / "index.html"
    proc = autolab(big_lab, "report", "--html", str(out))
    assert "wrote" in proc.stdout
    page = out.read_text()
    assert "Content-Security-Policy" in page and "default-src 'none'" in page
    urls = set(re.findall(r"https?://[^\s\"'<>)]+", page)) - {"http://www.w3.org/2000/svg"}
    assert urls == set() and " src=" not in page and "<link" not in page
    data = json.loads(re.search(r'id="trial-data">(.*?)</script>', page, re.S).group(1))
    assert len(data["rows"]) == 50
    assert page.count('class="chart chart-') == 4   # progress, lineage, Gantt, statuses


def chromium(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    profile = cwd / f"profile-{len(list(cwd.glob('profile-*')))}"
    return subprocess.run([str(CHROMIUM), *FLAGS, f"--user-data-dir={profile}", *args],
                          cwd=cwd, capture_output=True, text=True, timeout=120)


def console_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if ":CONSOLE" in line]


@pytest.mark.slow   # about 10 s: three Chromium starts
@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium "
                    "(apt-get install -y chromium; .ci/run installs it)")
def test_dashboard_in_headless_chromium(big_lab, tmp_path):
    # the console capture must be able to fail: a broken page shows up in it
    bad = tmp_path / "bad.html"
    bad.write_text("<html><body><script>missing_function();</script></body></html>")
    assert any("missing_function" in line for line in
               console_lines(chromium("--dump-dom", bad.as_uri(), cwd=tmp_path).stderr))

    page = tmp_path / "index.html"
    autolab(big_lab, "report", "--html", str(page))
    shot = tmp_path / "dashboard.png"
    proc = chromium(f"--screenshot={shot}", page.as_uri(), cwd=tmp_path)
    assert console_lines(proc.stderr) == []
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 30_000
    dom = chromium("--dump-dom", page.as_uri(), cwd=tmp_path)
    assert console_lines(dom.stderr) == []
    progress = dom.stdout.split('class="chart chart-progress"', 1)[1].split("</svg>", 1)[0]
    scored = [r for r in Ledger(Repo(big_lab), big_lab / ".autolab").rows()
              if r.metric is not None]
    assert progress.count("<circle") == len(scored)
    gantt = dom.stdout.split('class="chart chart-gantt"', 1)[1].split("</svg>", 1)[0]
    assert gantt.count('class="bar"') > 30
    body = dom.stdout.split('<table id="trials">', 1)[1].split("</table>", 1)[0]
    assert body.count("<tr>") == 51                     # the header and 50 trials, by script


@pytest.mark.slow   # about 10 s: a 1,000-row import, the page, one Chromium start
@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium "
                    "(apt-get install -y chromium; .ci/run installs it)")
def test_imported_history_of_1000_trials_in_headless_chromium(tmp_path):
    lab, _ = lab_with_import(tmp_path, 1000)
    page = tmp_path / "index.html"
    autolab(lab, "report", "--html", str(page))
    dom = chromium("--dump-dom", probe(page).as_uri(), cwd=tmp_path)
    assert console_lines(dom.stderr) == []
    ms = rendered_ms(dom.stdout)
    print(f"1,000 imported trials: {ms:.0f} ms from navigation to the load event")
    assert ms is not None and ms < 6000   # generous: tests/bench/dashboard.py prints the figure
    tree = dom.stdout.split('class="chart chart-tree"', 1)[1].split("</svg>", 1)[0]
    assert tree.count('class="node') == 1000                 # one node per trial
    kept = tree.count('class="node kept"')
    assert kept > 10 and tree.count('class="edge kept"') == kept - 1   # one path, root to best
    progress = dom.stdout.split('class="chart chart-progress"', 1)[1].split("</svg>", 1)[0]
    assert 'class="best imported"' in progress
    assert progress.count('class="outlier"') == 1 and "1 off the scale" in progress
    body = dom.stdout.split('<table id="trials">', 1)[1].split("</table>", 1)[0]
    assert body.count("<tr>") == 1001
    assert "imported <b>1000</b>" in dom.stdout
