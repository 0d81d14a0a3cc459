"""`autolab init --github`: the workflows a lab runs on, generated, linted, pinned and current
(acceptance 2 of #22)."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import autolab, git, make_lab

from autolab import workflows

ROOT = Path(__file__).resolve().parents[2]
EXPRESSION = re.compile(r"\$\{\{")


def lint(root: Path) -> None:
    """actionlint (syntax, expressions, shell) and zizmor's offline security audits."""
    for tool in ("actionlint", "zizmor"):
        assert shutil.which(tool), f"{tool} is not installed: pip install -e '.[dev]'"
    actionlint = subprocess.run(["actionlint"], cwd=root, capture_output=True, text=True)
    assert actionlint.returncode == 0, actionlint.stdout + actionlint.stderr
    zizmor = subprocess.run(["zizmor", "--offline", ".github/workflows"], cwd=root,
                            capture_output=True, text=True)
    assert zizmor.returncode == 0, zizmor.stdout + zizmor.stderr


def run_steps(text: str) -> list[str]:
    """The shell of every `run:` step, one string each (block scalars joined)."""
    lines, out = text.splitlines(), []
    for i, line in enumerate(lines):
        m = re.match(r"(\s*)(- )?run: ?(.*)$", line)
        if not m:
            continue
        if m.group(3) not in ("|", ">"):
            out.append(m.group(3))
            continue
        indent, body = len(m.group(1)) + 2, []
        for following in lines[i + 1:]:
            if following.strip() and len(following) - len(following.lstrip()) <= indent:
                break
            body.append(following)
        out.append("\n".join(body))
    return out


def check_security(text: str) -> None:
    assert "\npermissions: {}\n" in text   # nothing by default: each job asks for its own
    for uses in re.findall(r"^\s*- uses: (\S+)", text, re.M):
        assert re.fullmatch(r"[\w.-]+/[\w.-]+@[0-9a-f]{40}", uses), uses  # pinned by sha
    for shell in run_steps(text):
        assert not EXPRESSION.search(shell), shell  # no expression (user text) in a shell
    assert "pull_request_target" not in text and "head.sha" not in text
    assert "ref: ${{ github.event.repository.default_branch }}" in text or \
        "on:\n  schedule:" in text  # the default branch's code, never a PR's


def test_init_github_writes_linted_pinned_workflows_in_a_fresh_lab(tmp_path):
    root = make_lab(tmp_path / "lab")
    pyproject = root / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace(
        'name = "toy-lab"', 'name = "toy-lab"\ndependencies = ["numpy>=1.26"]'))
    git(root, "commit", "-qam", "the lab's own dependencies")
    proc = autolab(root, "init", "--github", env={"GIT_CONFIG_GLOBAL": "/dev/null",
                                                  "HOME": str(tmp_path / "empty-home")})
    names = sorted(p.name for p in (root / ".github" / "workflows").iterdir())
    assert names == ["autolab-chatops.yml", "autolab-evaluate.yml", "autolab-nightly.yml"]
    assert git(root, "status", "--porcelain") == ""   # committed, by autolab's identity
    assert "autolab: init lab" in git(root, "log", "-1", "--format=%s")
    lint(root)
    pinned, note = workflows.settings_for(root)
    assert ("note: autolab here was installed from" in proc.stdout) == bool(note)
    install = "pip install " + " ".join(shlex.quote(a) for a in pinned.autolab)
    texts = {n: (root / ".github" / "workflows" / n).read_text() for n in names}
    for name, text in texts.items():
        check_security(text)
        shells = run_steps(text)
        # autolab itself, pinned, never `pip install -e .` of the lab's own package
        assert install in shells, (name, shells)
        assert not any(re.search(r"pip install (-e )?['\"]?\.", s) for s in shells)
        assert "lab-requirements.txt" in text   # the lab's dependencies, separately
    assert "==" in install or "@ git+" in install   # a version or a commit, never a range
    nightly, chatops = texts["autolab-nightly.yml"], texts["autolab-chatops.yml"]
    assert 'cron: "17 2 * * *"' in nightly and "autolab run --forge github" in nightly
    assert "issue_comment:" in chatops and "autolab chatops --record" in chatops
    assert "autolab chatops --queued" in chatops and "autolab chatops --queued" in nightly
    # the record job is outside the lab's group and holds no secret; the drivers are inside
    record = chatops.split("\n  record:\n")[1].split("\n  drive:\n")[0]
    assert "concurrency" not in record and "secrets." not in record
    for text in (nightly, chatops.split("\n  drive:\n")[1], texts["autolab-evaluate.yml"]):
        assert "group: autolab-lab" in text and "queue: max" in text
    assert "ANTHROPIC_API_KEY" in nightly   # the default agent is claude
    again = autolab(root, "init", "--github")
    assert "nothing to do" in again.stdout  # already current


def test_sweep_workflows_and_a_requirements_file(tmp_path):
    root = make_lab(tmp_path / "lab")
    (root / "requirements.txt").write_text("numpy\n")
    autolab(root, "init", "--github", "--workflow-agent", "sweep")
    text = (root / ".github" / "workflows" / "autolab-nightly.yml").read_text()
    assert "pip install -r requirements.txt" in text and "--agent sweep" in text
    assert "ANTHROPIC_API_KEY" not in text and "autolab[github,modal]" in text
    lint(root)
    again = autolab(root, "init", "--github")   # keeps the agent the workflows were written for
    assert "nothing to do" in again.stdout


def make_distribution(where: Path, direct_url: str) -> None:
    """An installed autolab's metadata as pip writes it, with its recorded source."""
    info = where / "autolab-0.1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: autolab\nVersion: 0.1.0\n")
    (info / "direct_url.json").write_text(direct_url)


@pytest.mark.parametrize(("direct_url", "wanted", "noted"), [
    ('{"url": "https://github.com/someone/autolab", "vcs_info": {"vcs": "git", '
     '"commit_id": "0123456789abcdef0123456789abcdef01234567", "requested_revision": "main"}}',
     "autolab[github,modal,claude] @ git+https://github.com/someone/autolab"
     "@0123456789abcdef0123456789abcdef01234567", False),
    ('{"url": "https://example.org/autolab-0.1.0.tar.gz", "archive_info": {}}',
     "autolab[github,modal,claude] @ https://example.org/autolab-0.1.0.tar.gz", False),
    ('{"url": "file:///home/me/autolab", "dir_info": {"editable": true}}',
     "autolab[github,modal,claude]==0.1.0", True),
])
def test_the_pin_follows_the_recorded_source(tmp_path, monkeypatch, direct_url, wanted, noted):
    make_distribution(tmp_path / "site", direct_url)
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    args, note = workflows.install_args("claude", make_lab(tmp_path / "lab", init=False))
    assert args == (wanted,) and bool(note) == noted


def test_this_repository_runs_the_generated_workflows():
    """autolab's own workflows are the generator's output, installing autolab from the
    checkout (this repository is autolab)."""
    pinned, note = workflows.settings_for(ROOT)
    assert pinned.autolab == ("-e", ".[github,modal,claude]") and not note
    for path, text in workflows.render(pinned).items():
        assert (ROOT / path).read_text() == text, f"{path} differs: run " \
            f"`autolab init --github` in the repository root"
    lint(ROOT)
