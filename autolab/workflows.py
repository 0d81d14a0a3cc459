"""The GitHub Actions workflows a lab runs on, written by `autolab init --github`.

Three workflows, rendered from jinja2 templates in autolab/templates/: nightly research,
comment commands, and people's PRs. Each installs autolab itself, pinned to the installation
that wrote it (the source pip recorded for it: a git URL at its commit, an archive URL, else
the version number), and the lab's own dependencies in a separate step. The first lines of
each file record the settings it was written with, so `autolab doctor` can render it again
and tell a current file from an edited or outdated one.

Its place in the whole: ARCHITECTURE.md, "The workflows".
"""

from __future__ import annotations

import importlib.metadata
import json
import shlex
import tomllib
from dataclasses import asdict, dataclass
from pathlib import Path

import jinja2

DIRECTORY = ".github/workflows"
FILES = {"autolab-nightly.yml": "workflow_nightly.yml.j2",
         "autolab-chatops.yml": "workflow_chatops.yml.j2",
         "autolab-evaluate.yml": "workflow_evaluate.yml.j2"}
SETTINGS_LINE = "# autolab-settings: "
AGENTS = ("claude", "sweep")
REQUIREMENTS = "requirements.txt"


@dataclass(frozen=True)
class Settings:
    """What the workflows are written with; recorded in each file's header."""

    autolab: tuple[str, ...]    # pip arguments that install autolab itself, pinned
    version: str                # autolab's version that wrote them
    lab_dependencies: str       # "pyproject" | "requirements" | "" (none, or autolab itself)
    agent: str = "claude"       # the agent of nightly runs and comment commands

    @property
    def secrets(self) -> tuple[str, ...]:
        """The Actions secrets these workflows hand to autolab."""
        return ("MODAL_TOKEN_ID", "MODAL_TOKEN_SECRET",
                *(("ANTHROPIC_API_KEY",) if self.agent == "claude" else ()))


def extras(agent: str) -> str:
    return ",".join(["github", "modal", *(["claude"] if agent == "claude" else [])])


def project_table(root: Path) -> dict:
    path = root / "pyproject.toml"
    if not path.is_file():
        return {}
    return tomllib.loads(path.read_text()).get("project", {})


def install_args(agent: str, root: Path) -> tuple[tuple[str, ...], str]:
    """(pip arguments installing this autolab on a runner, a note when it cannot be pinned to
    exactly this installation). In autolab's own repository: the checkout itself."""
    wanted = f"autolab[{extras(agent)}]"
    if project_table(root).get("name") == "autolab":
        return ("-e", f".[{extras(agent)}]"), ""
    dist = importlib.metadata.distribution("autolab")
    recorded = json.loads(dist.read_text("direct_url.json") or "{}")
    url = recorded.get("url", "")
    vcs = recorded.get("vcs_info") or {}
    if vcs.get("vcs") == "git" and vcs.get("commit_id") and not url.startswith("file:"):
        return (f"{wanted} @ git+{url}@{vcs['commit_id']}",), ""
    if "archive_info" in recorded and not url.startswith("file:"):
        return (f"{wanted} @ {url}",), ""
    pinned = (f"{wanted}=={dist.version}",)
    if url:  # a local directory or file: no runner can reach it
        return pinned, (f"autolab here was installed from {url}, which a runner cannot reach; "
                        f"the workflows install {pinned[0]} from the package index instead. "
                        f"Install autolab from a git URL to pin them to its commit")
    return pinned, ""


def lab_dependencies(root: Path) -> str:
    """Where the lab lists its own dependencies: [project].dependencies, else requirements.txt."""
    project = project_table(root)
    if project.get("name") == "autolab":
        return ""   # autolab's own repository: installing autolab installs them
    if project.get("dependencies"):
        return "pyproject"
    return "requirements" if (root / REQUIREMENTS).is_file() else ""


def settings_for(root: Path, agent: str = "claude") -> tuple[Settings, str]:
    """The settings `autolab init --github` writes with here, and its note (may be empty)."""
    args, note = install_args(agent, root)
    return Settings(args, importlib.metadata.version("autolab"), lab_dependencies(root),
                    agent), note


def _env() -> jinja2.Environment:
    # [[ ]] for autolab's values, so GitHub's own ${{ }} expressions pass through as written
    return jinja2.Environment(loader=jinja2.PackageLoader("autolab", "templates"),
                              variable_start_string="[[", variable_end_string="]]",
                              keep_trailing_newline=True, undefined=jinja2.StrictUndefined,
                              trim_blocks=True, lstrip_blocks=True)


def render(settings: Settings) -> dict[str, str]:
    """{path under the lab's root: the file's text}."""
    header = (f"# Written by `autolab init --github` (autolab {settings.version}); rerun it to "
              f"update this file, and `autolab doctor` checks it is current.\n"
              f"{SETTINGS_LINE}{json.dumps(asdict(settings), sort_keys=True)}\n")
    env = _env()
    values = {"install_autolab": " ".join(shlex.quote(a) for a in settings.autolab),
              "lab_dependencies": settings.lab_dependencies, "agent": settings.agent,
              "secrets": settings.secrets, "requirements": REQUIREMENTS}
    return {f"{DIRECTORY}/{name}": header + env.get_template(template).render(**values)
            for name, template in FILES.items()}


def write(root: Path, settings: Settings) -> list[str]:
    """Write the workflows; the paths whose content changed."""
    changed = []
    for path, text in render(settings).items():
        target = root / path
        if target.is_file() and target.read_text() == text:
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
        changed.append(path)
    return changed


def agent_of(root: Path) -> str:
    """The agent the lab's workflows were written for; claude when there are none yet."""
    nightly = root / DIRECTORY / next(iter(FILES))
    written = recorded(nightly.read_text()) if nightly.is_file() else None
    return written.agent if written else "claude"


def recorded(text: str) -> Settings | None:
    """The settings a workflow's header records; None when it has none autolab can read."""
    for line in text.splitlines()[:5]:
        if line.startswith(SETTINGS_LINE):
            try:
                data = json.loads(line[len(SETTINGS_LINE):])
                return Settings(**{**data, "autolab": tuple(data["autolab"])})
            except (ValueError, TypeError, KeyError):
                return None
    return None
