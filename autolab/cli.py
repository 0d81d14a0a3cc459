"""The `autolab` command.

Its place in the whole: ARCHITECTURE.md, "The edges".
"""

from __future__ import annotations

import dataclasses
import fcntl
import json
import os
import re
import textwrap
from contextlib import contextmanager
from pathlib import Path

import click
import git
from rich.console import Console
from rich.markup import escape
from rich.table import Column, Table

from autolab import config as config_mod
from autolab import dashboard, importer, registry, scores, workflows
from autolab.assemble import make_loop
from autolab.backlog import Backlog
from autolab.config import Lab
from autolab.engine import Engine
from autolab.errors import AutolabError, LabError, LockedError, UserError
from autolab.gitops import BOT, Repo
from autolab.integrity import manifest_at, watched
from autolab.ledger import Ledger
from autolab.loop import Loop, lab_noise, rule_from
from autolab.progress import Progress
from autolab.pruner import pruning
from autolab.records import BASELINE, IMPORTED, Job
from autolab.refs import TRIALS
from autolab.spend import Spend

console = Console(highlight=False)
STATUS_CURVES = 500
REPORT_PAGE = "reports/site/index.html"
# what autolab writes inside a lab that is never committed: its state and the report page
GENERATED = (".autolab/", "reports/site/")


@contextmanager
def run_lock(lab: Lab):
    """One `autolab run` per lab: a second one is told who holds it."""
    lab.home.mkdir(parents=True, exist_ok=True)
    path = lab.home / "run.lock"
    with open(path, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            raise LockedError(f"{lab.root}: an autolab run is already active here (pid "
                              f"{holder}); wait for it or stop it first") from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        yield


def build_loop(lab: Lab, forge: str, runner: str, agent: str, parallel: int) -> Loop:
    repo = Repo(lab.root)
    progress = Progress(console, lab.config.metric)
    # one counter, so the agent's tokens and the runner's compute share max_usd
    spend = Spend(lab.config.budget.max_usd, say=progress.note)
    built = registry.runner(runner, lab, parallel, spend)
    progress.note(built.confinement())
    for note in lab.config.notes:       # deprecated spellings, said once per run
        progress.note(note)
    if lab.config.prune and not built.prunes:
        progress.note(f"pruning: the {runner} runner runs every trial to its end")
    if lab.config.metric_from == "train_log":
        progress.note(self_scored(lab.config))
    return make_loop(lab, registry.forge(forge, lab), built, registry.agent(agent, lab, spend),
                     Ledger(repo, lab.home), progress)


def self_scored(config) -> str:
    """The one line every self-scoring lab's run and status carry: its weaker trust level."""
    return (f"metric: self-scored: read from the train log's `{config.metric}:` line "
            f"(metric_from = \"train_log\"); training sees the data it scores on, so a "
            f"trial could report any number")


def parts(f):
    for name, help_text in (("forge", "where trials become PRs: local | github"),
                            ("runner", "where trials train: local | modal"),
                            ("agent", "who proposes changes: sweep | claude")):
        f = click.option(f"--{name}", default=None, help=f"{help_text} "
                         f"[default: from [tool.autolab], else the offline built-in]")(f)
    f = click.option("--parallel", "-p", type=click.IntRange(1, 64), default=None,
                     help="trials running at once [default: runner.parallel]")(f)
    return click.option("--lab", "lab_dir", default=".", type=click.Path(file_okay=False),
                        help="the lab's directory (any path inside its git repo)")(f)


def _drive(lab_dir, forge, runner, agent, parallel, trials, idea="", prune=None, force=False):
    lab = config_mod.load(lab_dir)
    if prune is not None:
        lab = dataclasses.replace(lab, config=dataclasses.replace(lab.config, prune=prune))
    parallel = parallel or lab.config.runner.parallel
    if lab.config.budget.max_trials:
        trials = min(trials, lab.config.budget.max_trials)
    with run_lock(lab):
        loop = build_loop(lab, forge or "local", runner or lab.config.runner.kind,
                          agent or lab.config.agent.kind, parallel)
        try:
            if trials == 0:
                loop.finish_pending()
                loop.ensure_baseline(parallel, force)
            else:
                loop.run(trials, parallel, idea)
        finally:
            loop.runner.close()


@contextmanager
def session(lab_dir, runner, agent):
    """A loop on the github forge under the run lock, finished trials done and the baseline
    in place: what the commands people send from GitHub act through."""
    lab = config_mod.load(lab_dir)
    parallel = lab.config.runner.parallel
    with run_lock(lab):
        loop = build_loop(lab, "github", runner or lab.config.runner.kind,
                          agent or lab.config.agent.kind, parallel)
        try:
            loop.finish_pending()
            loop.ensure_baseline(parallel)
            yield loop
        finally:
            loop.runner.close()


def _reviews(lab_dir, runner, agent):
    # imported here: only GitHub labs need PyGithub
    from autolab.review import Reviews

    forge = registry.forge("github", config_mod.load(lab_dir))
    return Reviews(forge, lambda: session(lab_dir, runner, agent))


class Group(click.Group):
    """Errors a user can cause end as one line and their exit code, under CliRunner too."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except AutolabError as exc:
            error = click.ClickException(str(exc))
            error.exit_code = exc.exit_code
            raise error from None


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="autolab")
def cli():
    """autolab: experiments that run themselves; every experiment is a pull request.

    Run inside a git repository whose pyproject.toml has a [tool.autolab] table
    (`autolab init` writes one). State lives in $AUTOLAB_HOME (default .autolab/).
    """


@cli.command()
@parts
@click.option("--trials", "-n", type=click.IntRange(1), default=10, show_default=True,
              help="trials to start in this run")
@click.option("--dry-run", is_flag=True, help="print what a remote runner would send for "
              "main's commit (image, GPU, timeouts, payload), then stop; needs no account")
@click.option("--prune/--no-prune", default=None,
              help="stop clearly losing trials early [default: `prune` in [tool.autolab], on]")
def run(lab_dir, forge, runner, agent, parallel, trials, dry_run, prune):
    """Propose, train, evaluate and merge-or-close TRIALS experiments.

    On a lab with no baseline yet, the baseline seeds run first. A run that was
    killed resumes its interrupted trials when started again.
    """
    if dry_run:
        _dry_run(lab_dir, runner, parallel)
        return
    _drive(lab_dir, forge, runner, agent, parallel, trials, prune=prune)


def _dry_run(lab_dir, runner, parallel):
    lab = config_mod.load(lab_dir)
    name = runner or lab.config.runner.kind
    built = registry.runner(name, lab, parallel or lab.config.runner.parallel)
    try:
        repo = Repo(lab.root)
        main = repo.rev(f"refs/heads/{lab.config.branch}")
        if main is None:
            raise LabError(f"{lab.root}: no `{lab.config.branch}` branch to describe; commit "
                           f"the lab first")
        job = Job("dry-run", main, manifest_at(repo, main, watched(lab.config)), main, 0)
        described = built.describe(job)
        if not described:
            raise UserError(f"--dry-run: the {name!r} runner sends nothing anywhere; use it "
                            "with a remote runner, e.g. `--runner modal`")
        click.echo(described)  # plain text: rich would re-wrap the file list
    finally:
        built.close()


@cli.command()
@parts
@click.option("--force", is_flag=True, help="measure a fresh baseline even though main has "
              "one; the earlier rows stay as history")
def baseline(lab_dir, forge, runner, agent, parallel, force):
    """Run the baseline seeds on main and record the noise band.

    Skipped when main has a baseline measured under its present files; when main changed
    outside autolab since (a frozen file, or the editable script without a trial), or with
    --force, a fresh one is measured.
    """
    _drive(lab_dir, forge, runner, agent, parallel, 0, force=force)


@cli.command("try")
@click.argument("idea")
@parts
def try_(idea, lab_dir, forge, runner, agent, parallel):
    """Try one IDEA now: `autolab try "LR=0.006"` (the sweep agent applies NAME=value), or
    `autolab try "cosine decay" --agent claude` (the best-fitting role writes the change)."""
    _drive(lab_dir, forge, runner, agent, parallel, 1, idea)


@cli.command()
@click.argument("text", required=False)
@click.option("--lab", "lab_dir", default=".", type=click.Path(file_okay=False))
def idea(text, lab_dir):
    """Queue TEXT for the planner to try before it invents its own; `autolab idea list` (or
    no TEXT) shows each idea as open, tried (with its trial) or kept.

    The claude agent takes any text; the sweep agent takes only NAME=value ideas.
    """
    lab = config_mod.load(lab_dir)
    queued = Backlog(lab.home)
    if text is not None and text != "list":
        added = queued.add(text)
        console.print(f"idea {added.id} queued: {escape(added.text)}")
        return
    listing = queued.listing(Ledger(Repo(lab.root), lab.home).rows())
    if not listing:
        console.print('no ideas queued; add one with `autolab idea "try rotary embeddings"`')
        return
    table = Table("idea", "state", "trial", "text", box=None)
    for item, state in listing:
        table.add_row(str(item.id), state, item.trial_id or "–", escape(item.text))
    console.print(table)


@cli.command("import")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--lab", "lab_dir", default=".", type=click.Path(file_okay=False))
@click.option("--metric", default=None,
              help="the column holding the metric [default: the lab's metric]")
def import_(path, lab_dir, metric):
    """Read a results TSV (karpathy/autoresearch's, or a wider one with parents and roles)
    into the ledger as history; importing the same file again adds nothing.

    Imported rows have source `import:<file>`. `autolab status` and `autolab report` show
    them, their baseline and their kept frontier; the noise band, the agents and `main`
    never count them as this lab's verdicts.
    """
    lab = config_mod.load(lab_dir)
    repo = Repo(lab.root)
    done = importer.import_file(path, lab.config, repo, Ledger(repo, lab.home), metric)
    kept = len(done.rows) - done.added
    as_text = importer.text_note(done.as_text)
    console.print(f"imported {done.added} of {len(done.rows)} rows from {escape(str(path))}"
                  + (f" ({kept} already in the ledger)" if kept else "")
                  + (f"; {escape(as_text)}" if as_text else ""), soft_wrap=True)
    console.print(escape(importer.summary_line(done.source, done.rows, lab.config)),
                  soft_wrap=True)


# a relative file path inside a sentence (train/train.py, configs/small.yaml.), not and/or
FILE_PATH = re.compile(r"(?:[\w.-]+/)+([\w-]+\.\w+)(?=[.,;:]?$)")


def brief(hypothesis: str, width: int) -> str:
    """A hypothesis cut at a word, its file paths shown by their file name: the idea, not
    where it lives, fills the column."""
    text = " ".join(FILE_PATH.sub(r"\1", word) if "://" not in word else word
                    for word in hypothesis.split())
    short = textwrap.shorten(text, width, placeholder=" …")
    # one word longer than the column: shorten keeps only the placeholder
    return short if short != "…" else text[:width - 1] + "…"


@cli.command()
@click.option("--lab", "lab_dir", default=".", type=click.Path(file_okay=False))
@click.option("--last", "-n", default=10, show_default=True, help="recent trials to list")
@click.option("--forge", default="local", show_default=True,
              help="where the running trials are asked for: local | github")
def status(lab_dir, last, forge):
    """The best result, the noise band, the last trials and the ones still running."""
    lab = config_mod.load(lab_dir)
    repo = Repo(lab.root)
    ledger = Ledger(repo, lab.home)
    # curves are the heavy column: read them only for the recent trials, where the
    # anomalies a person should act on now are
    rows = ledger.rows(columns=[c for c in dashboard.COLUMNS if c != "curve"])
    recent = {r.trial_id: r for r in ledger.recent(STATUS_CURVES)}
    rows = [recent.get(r.trial_id, r) for r in rows]
    main = repo.rev(f"refs/heads/{lab.config.branch}")
    table = scores.parse(repo.read(main, scores.PATH)) if main else []
    frontier = scores.current(table)
    metric = lab.config.metric
    if lab.config.metric_from == "train_log":
        console.print(escape(self_scored(lab.config)), style="yellow", soft_wrap=True)
    if frontier:
        best, base = frontier[-1], frontier[0]
        earlier = len(table) - len(frontier)
        console.print(f"best {metric}: [bold]{best.metric:.5g}[/bold] ({best.trial_id}, "
                      f"{best.n_seeds} seeds); baseline {base.metric:.5g} ± "
                      f"{base.metric_std:.3g}; {len(frontier) - 1} kept"
                      + (f" (since a re-baseline; {earlier} earlier score rows are history)"
                         if earlier else ""))
        unreachable = rule_from(lab.config, ledger, frontier, lab_noise(ledger),
                                seen=True).unreachable()
        if unreachable:
            console.print(escape(unreachable), style="yellow", soft_wrap=True)
    else:
        console.print("no baseline yet: `autolab run` starts with it")
    for source, group in importer.by_source(rows).items():
        # wrapped, unlike the lines above: an imported history is read in any terminal
        console.print(escape(f"imported {importer.summary_line(source, group, lab.config)}"))
        cells = [(str(importer.row_number(r)), importer.label(r), f"{r.metric:.5g}",
                  "–" if r.delta_vs_best is None else f"{r.delta_vs_best:+.4g}", r.hypothesis)
                 for r in importer.frontier(group, lab.config)[-last:]]
        # the short columns keep their width in a narrow terminal; the hypothesis gives way
        kept = Table(*(Column(name, no_wrap=True, min_width=max(
                         [len(name), *(len(c[i]) for c in cells)]), justify=side)
                       for i, (name, side) in enumerate((("row", "right"), ("commit", "left"),
                                                         ("metric", "left"), ("Δ", "left")))),
                     Column("hypothesis", no_wrap=True, overflow="ellipsis"),
                     box=None, title="kept path", title_justify="left")
        for row in cells:
            kept.add_row(*map(escape, row[:4]), escape(brief(row[4], 60)))
        console.print(kept)
    trials = [r for r in rows if r.status != BASELINE and not r.imported]
    counts: dict[str, int] = {}
    for r in trials:
        counts[r.status] = counts.get(r.status, 0) + 1
    console.print(f"{len(trials)} trials: " + ", ".join(f"{v} {k}" for k, v in
                                                     sorted(counts.items())) if trials else "")
    table = Table("trial", "status", metric, "Δ best", "compute", "hypothesis", box=None)
    for r in trials[-last:]:
        table.add_row(r.trial_id, r.status, "–" if r.metric is None else f"{r.metric:.5g}",
                      "–" if r.delta_vs_best is None else f"{r.delta_vs_best:+.4g}",
                      "–" if r.compute_ratio is None else f"{r.compute_ratio:.2f}×",
                      escape(brief(r.hypothesis, 70)))
    if trials:
        console.print(table)
        own = [r for r in rows if not r.imported]
        for line in dashboard.essentials(dashboard.summarize(own)):
            console.print(escape(line), style="dim" if not line.startswith("anomaly") else "red")
        console.print(escape(pruning(lab.config, ledger, frontier, {})[1]), style="dim")
    done = {r.trial_id for r in rows}
    for trial in registry.forge(forge, lab).open_trials():   # the forge knows, wherever it is
        if trial.trial_id not in done:
            console.print(f"running: {trial.trial_id} {escape(trial.proposal.hypothesis)}")


@cli.command()
@click.option("--lab", "lab_dir", default=".", type=click.Path(file_okay=False))
@click.option("--html", "html_path", default=REPORT_PAGE, show_default=True, is_flag=False,
              flag_value=REPORT_PAGE, type=click.Path(dir_okay=False),
              help="where to write the page (`--html` alone: the default)")
def report(lab_dir, html_path):
    """Write one self-contained HTML dashboard of every trial in the ledger.

    Progress and Gantt charts, outcomes per role and source, cost, anomalies and a
    searchable table of all trials; no network needed to build or to view it.
    """
    lab = config_mod.load(lab_dir)
    repo = Repo(lab.root)
    main = repo.rev(f"refs/heads/{lab.config.branch}")
    frontier = scores.current(scores.parse(repo.read(main, scores.PATH)) if main else [])
    rows = Ledger(repo, lab.home).rows(columns=dashboard.COLUMNS)
    path = Path(html_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(dashboard.html(lab.config, rows, frontier))
    console.print(f"wrote {escape(str(path))}: {len(rows)} ledger rows")


@cli.command()
@click.argument("trial_id")
@click.option("--lab", "lab_dir", default=".", type=click.Path(file_okay=False))
def reproduce(trial_id, lab_dir):
    """Re-run TRIAL_ID's exact commit and seeds with main's evaluator; compare the metric."""
    lab = config_mod.load(lab_dir)
    repo = Repo(lab.root)
    row = next((r for r in Ledger(repo, lab.home).rows() if r.trial_id == trial_id), None)
    if row is None or not row.commit_sha:
        raise UserError(f"{trial_id}: no such trial with a commit in the ledger "
                        f"(see `autolab status`)")
    if row.imported:
        raise UserError(f"{trial_id}: imported from {row.source[len(IMPORTED):]}; autolab "
                        f"did not run it, so it has no manifest or seeds to re-run")
    manifest = manifest_at(repo, row.commit_sha, watched(lab.config))
    if manifest.config_sha256 != row.config_sha256:
        raise UserError(f"{trial_id}: commit {row.commit_sha[:10]} no longer matches its "
                        f"recorded config_sha256")
    runner = registry.runner("local", lab, 1)
    engine = Engine(runner, Progress(console, lab.config.metric))
    main = repo.rev(f"refs/heads/{lab.config.branch}")
    try:
        recorded_values = row.seed_values + [None] * len(json.loads(row.seeds))
        for seed, recorded in zip(json.loads(row.seeds), recorded_values, strict=False):
            (result,) = engine.run([Job(trial_id, row.commit_sha, manifest, main, seed)])
            got = result.metrics.get(lab.config.metric)
            console.print(f"{trial_id} seed {seed}: {result.status} {lab.config.metric}="
                          f"{got} (recorded {recorded})")
    finally:
        runner.close()
    console.print(f"trial ref: {TRIALS}{trial_id}; config_sha256 {row.config_sha256}")


@cli.command()
@click.option("--lab", "lab_dir", default=".", type=click.Path(file_okay=False))
@click.option("--runner", default=None, help="where the trial trains [default: runner.kind]")
@click.option("--agent", default=None, help="who turns the idea into a change "
              "[default: agent.kind]")
@click.option("--event", "event_path", envvar="GITHUB_EVENT_PATH",
              type=click.Path(exists=True, dir_okay=False),
              help="the issue_comment or pull_request_review event JSON "
              "[default: $GITHUB_EVENT_PATH]")
@click.option("--record", is_flag=True, help="only store the event's command on origin "
              "(refs/autolab/commands/) and react 👀; a later --queued answers it")
@click.option("--queued", is_flag=True, help="answer every command recorded on origin, "
              "oldest first, instead of an event")
def chatops(lab_dir, runner, agent, event_path, record, queued):
    """Answer a comment command (`/try <idea>`, and on PRs `/evaluate`, `/rerun [N]`, `/keep`,
    `/discard [reason]`) or an approving review: check the person's access, act, reply once."""
    from autolab import chatops as ops
    from autolab import commands

    if record and queued:
        raise UserError("autolab chatops: --record and --queued are two jobs; give one")
    if queued:
        reviews = _reviews(lab_dir, runner, agent)
        replies = commands.answer_all(reviews.forge, reviews)
        console.print(escape(f"answered {len(replies)} recorded command(s)"))
        for reply in replies:
            console.print(escape(reply))
        return
    if not event_path:
        raise UserError("autolab chatops: no event; pass --event FILE or set "
                        "GITHUB_EVENT_PATH (Actions sets it), or use --queued")
    if record:
        root = config_mod.find_root(Path(lab_dir))
        console.print(escape(commands.record(root, ops.load_event(event_path))))
        return
    reviews = _reviews(lab_dir, runner, agent)
    console.print(escape(ops.handle(reviews.forge.gh_repo, ops.load_event(event_path),
                                    reviews)))


@cli.command("evaluate-pr")
@click.argument("number", type=click.IntRange(1))
@click.option("--lab", "lab_dir", default=".", type=click.Path(file_okay=False))
@click.option("--runner", default=None, help="where the PR trains [default: runner.kind]")
def evaluate_pr(number, lab_dir, runner):
    """Evaluate a person's same-repository PR NUMBER as one trial and reply on it.

    Its diff against the merge base with main is fetched (never checked out or run
    here), admitted like any proposal, applied to main, trained on the runner,
    judged against the best, and merged by compare-and-swap or closed.
    """
    from autolab import chatops as ops

    # the sweep agent only completes the loop's parts: a PR's proposal needs no agent
    reviews = _reviews(lab_dir, runner, "sweep")
    try:
        reply = reviews.evaluate(number)
    except UserError as exc:
        ops.post(reviews.forge.gh_repo, number, f"Not evaluated: {exc}")
        raise
    ops.post(reviews.forge.gh_repo, number, reply)
    console.print(escape(reply))


@cli.command()
@click.option("--lab", "lab_dir", default=".", type=click.Path(file_okay=False))
@click.option("--fix", is_flag=True, help="create the missing labels, turn on the Actions "
              "create-PR setting and make main require autolab/metric, up to date")
@click.option("--forge", type=click.Choice(["local", "github"]), default=None,
              help="check the lab as this forge's [default: github when the workflows of "
              "`autolab init --github` are in the repository, else local]")
def doctor(lab_dir, fix, forge):
    """Check this lab's set-up and say what is missing, with how to fix it.

    Only what the lab uses: the sandbox trial code runs in on this machine (local
    runner); Modal's and Anthropic's credentials here (modal runner, claude agent);
    for a GitHub lab, the token and its scopes, the repository and its default branch,
    the Actions create-PR setting, main's rules (classic protection and rulesets) and
    anything in them that refuses an API merge, rules on the trial branches, the labels,
    the secrets by name and where they are, and the workflows. Exits 1 when something
    is missing.
    """
    from autolab import doctor as checks

    found = checks.run(config_mod.load(lab_dir), fix, forge=forge)
    for check in found:
        console.print(f"{check.mark} {escape(check.line)}", style=check.style, soft_wrap=True)
    if any(c.failed for c in found):
        raise click.exceptions.Exit(1)


@cli.command()
@click.option("--lab", "lab_dir", default=".", type=click.Path(file_okay=False))
def check(lab_dir):
    """Smoke-test the lab before a run: its commands' files, the parameters the agent can
    change, then prepare, one train seed and the evaluation once on the branch's commit,
    in the local runner's sandbox, with the seconds each took and the result. Records
    nothing. Exits 1 when something is missing or fails.
    """
    from autolab import check as smoke

    lab = config_mod.load(lab_dir)

    def say(found) -> None:
        console.print(f"{found.mark} {escape(found.line)}", style=found.style, soft_wrap=True)

    with run_lock(lab):
        healthy = smoke.checks(lab, say)
    if not healthy:
        raise click.exceptions.Exit(1)


INIT_TABLE = """
[tool.autolab]
objective = {objective}
metric = {metric}
direction = {direction}
secondary = []
editable = {editable}
frozen = {frozen}
prepare_command = {prepare}
train_command = {train}
evaluate_command = {evaluate}
budget_seconds = {budget}
timeout_seconds = {timeout}
baseline_seeds = {baseline_seeds}
confirm_seeds = 3
min_delta = 0.0
constraints = ["no new dependencies"]
branch = {branch}
{more}
[tool.autolab.runner]
kind = "local"
parallel = 1

[tool.autolab.agent]
kind = "sweep"
"""


@cli.command()
@click.option("--lab", "lab_dir", default=".", type=click.Path(file_okay=False))
@click.option("--objective", default="Improve the metric within the training budget")
@click.option("--metric", default="val_bpb", show_default=True)
@click.option("--direction", type=click.Choice(["minimize", "maximize"]), default="minimize",
              show_default=True)
@click.option("--editable", multiple=True, default=["train/**"], show_default=True)
@click.option("--frozen", multiple=True, default=["evaluator/**"], show_default=True,
              help="besides reports/scores.csv, .github/** and pyproject.toml, always frozen")
@click.option("--prepare", default=None, show_default="python -m evaluator.data; none "
              "with --metric-from train_log")
@click.option("--train", default="python train/train.py", show_default=True)
@click.option("--evaluate", default=None, show_default="python -m evaluator; none with "
              "--metric-from train_log")
@click.option("--budget", type=float, default=60, show_default=True)
@click.option("--timeout", type=float, default=240, show_default=True)
@click.option("--baseline-seeds", type=click.IntRange(2), default=5, show_default=True,
              help="seeds of the baseline, whose spread is the noise band")
@click.option("--branch", default=None, help="the branch trials start from and winners merge "
              "into [default: the branch checked out now, else main]")
@click.option("--metric-from", type=click.Choice(config_mod.METRIC_FROM), default="evaluator",
              show_default=True, help="train_log: the train command prints `METRIC: value` "
              "itself (a weaker trust level; no evaluator)")
@click.option("--inputs", "input_paths", multiple=True, help="a git-ignored data file (or "
              "glob) that prepare, and a self-scoring train command, get in their working "
              "directory; repeatable")
@click.option("--github", is_flag=True, help="also write the GitHub Actions workflows "
              "(nightly, comment commands, people's PRs), or bring them up to date")
@click.option("--workflow-agent", type=click.Choice(workflows.AGENTS), default=None,
              help="with --github: the agent of nightly runs and /try [default: the one "
              "the workflows have, else claude]")
def init(lab_dir, objective, metric, direction, editable, frozen, prepare, train, evaluate,
         budget, timeout, baseline_seeds, branch, metric_from, input_paths, github,
         workflow_agent):
    """Make this git repository a lab: config, reports/scores.csv, .gitignore (and with
    --github the workflows); one commit."""
    self_scoring = metric_from == "train_log"
    if prepare is None:
        prepare = "" if self_scoring else "python -m evaluator.data"
    if evaluate is None:
        evaluate = "" if self_scoring else "python -m evaluator"
    root = config_mod.find_root(Path(lab_dir))
    repo = Repo(root)
    current = repo.checked_out_branch()
    branch = branch or current or "main"
    written = []
    pyproject = root / config_mod.PYPROJECT
    text = pyproject.read_text() if pyproject.exists() else ""
    if "[tool.autolab]" not in text:
        q = json.dumps
        frozen_all = [*frozen, "reports/scores.csv", ".github/**", "pyproject.toml"]
        more = (f"metric_from = {q(metric_from)}\n" if self_scoring else "") + (
            f"inputs = {q(list(input_paths))}\n" if input_paths else "")
        table = INIT_TABLE.format(objective=q(objective), metric=q(metric),
                                  direction=q(direction), editable=q(list(editable)),
                                  frozen=q(list(dict.fromkeys(frozen_all))), prepare=q(prepare),
                                  train=q(train), evaluate=q(evaluate), budget=budget,
                                  timeout=timeout, baseline_seeds=baseline_seeds,
                                  branch=q(branch), more=more)
        pyproject.write_text(text + ("\n" if text and not text.endswith("\n") else "") + table)
        written.append(config_mod.PYPROJECT)
    lab = config_mod.load(root)  # what was there or written must be valid before committing
    score_file = root / scores.PATH
    if not score_file.exists():
        score_file.parent.mkdir(parents=True, exist_ok=True)
        score_file.write_text(scores.HEADER)
        written.append(scores.PATH)
    ignore = root / ".gitignore"
    lines = ignore.read_text().splitlines() if ignore.exists() else []
    unignored = [entry for entry in GENERATED if entry not in lines]
    if unignored:
        ignore.write_text("\n".join([*lines, *unignored]) + "\n")
        written.append(".gitignore")
    if github:
        pinned, note = workflows.settings_for(root, workflow_agent or workflows.agent_of(root))
        written.extend(workflows.write(root, pinned))
        if note:
            console.print(f"note: {escape(note)}", style="yellow", soft_wrap=True)
    if not written:
        console.print(f"{root} is already a lab; nothing to do")
        return
    try:
        repo.git.add("--", *written)
        repo.git.commit("-m", "autolab: init lab", "--only", "--", *written, env=BOT)
    except git.GitCommandError as exc:
        raise LabError(f"{root}: wrote {', '.join(written)} but could not commit them "
                       f"({exc.stderr.strip()[-200:]}); commit them yourself") from None
    console.print(f"initialised the lab in {root}: {', '.join(written)} committed. "
                  f"Next: `autolab run`")
    if current != lab.config.branch:
        console.print(escape(f"note: the lab's branch is `{lab.config.branch}` but this commit "
                             f"is on `{current or 'a detached HEAD'}`; merge it into "
                             f"`{lab.config.branch}`, or set `branch` in [tool.autolab], "
                             f"before `autolab run`"), soft_wrap=True)


def main() -> None:
    cli(prog_name="autolab")
