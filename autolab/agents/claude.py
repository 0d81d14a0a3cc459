"""The Claude agent: specialist roles that write one-change patches from the lineage.

Each slot the planner gives a role becomes one Messages API call with one tool,
`propose_change` (strict schema): forced where the model accepts forced tool use,
`auto` elsewhere (FORCED_TOOL_OK). The program and the script are a cached prefix;
the lineage slice and the task follow. The SDK retries 429 and 5xx itself; what
still fails stops the run cleanly with what happened (refused, not found, not
allowed, failed after retries), and so does the run's spending cap
(autolab/spend.py, shared with the runner). An answer cut off at `max_tokens` is
asked once more with a larger limit, and its edit is never applied; a refusal, a
second cut-off or an answer without the tool call is returned as a proposal with
no diff, which admission records as a `rejected` row whose reason says why (a
refusal's own text).

Its place in the whole: ARCHITECTURE.md, "Contracts".
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import anthropic

from autolab import admit
from autolab.agents import prompts, roles
from autolab.agents.base import BaseAgent, Context, unified_diff
from autolab.config import Config, Lab, plugin_settings
from autolab.errors import UserError
from autolab.records import Proposal
from autolab.spend import Spend

DEFAULT_MODEL = "claude-sonnet-4-6"
MAX_TOKENS = 8192
# a cut-off answer is asked once more with this limit: near the most the SDK sends without
# streaming (it refuses requests it expects to pass 10 minutes, above 21,333 tokens)
RETRY_MAX_TOKENS = 20_000
MAX_RETRIES = 4          # the SDK's own backoff on 429, 5xx and dropped connections
ATTEMPTS_PER_SLOT = 2    # a slot whose answer repeats a tried idea is asked once more
TOOL = "propose_change"
# USD per million tokens (input, output) by exact model id: Anthropic's list prices on
# PRICES_DATE, from platform.claude.com/docs/en/about-claude/pricing and each model's overview
# page (platform.claude.com/docs/en/models/<model>/overview). Every id of the installed SDK's
# `anthropic.types.Model` is here (a test checks it), and so are the retired ids a lab may
# still name. A model not here is priced as the dearest CURRENT one, and the run says so
# once; `usd_per_mtok_input` and `usd_per_mtok_output` in [tool.autolab.agent.claude] override the
# table for `model`.
PRICES_DATE = "2026-12-03"
PRICES = {
    **dict.fromkeys(("claude-fable-5-2", "claude-mythos-5-2"), (8.0, 40.0)),
    **dict.fromkeys(("claude-fable-5", "claude-fable-5-1", "claude-mythos-5",
                     "claude-mythos-5-1"), (10.0, 50.0)),
    "claude-mythos-preview": (25.0, 125.0),
    "claude-opus-5-5": (4.0, 20.0),
    **dict.fromkeys(("claude-opus-4-5", "claude-opus-4-5-20251101", "claude-opus-4-6",
                     "claude-opus-4-7", "claude-opus-4-8", "claude-opus-5"), (5.0, 25.0)),
    **dict.fromkeys(("claude-opus-4-0", "claude-opus-4-20250514", "claude-opus-4-1",
                     "claude-opus-4-1-20250805"), (15.0, 75.0)),
    **dict.fromkeys(("claude-sonnet-5", "claude-sonnet-5-5"), (2.0, 10.0)),
    **dict.fromkeys(("claude-sonnet-4-0", "claude-sonnet-4-20250514", "claude-sonnet-4-5",
                     "claude-sonnet-4-5-20250929", "claude-sonnet-4-6"), (3.0, 15.0)),
    "claude-haiku-5-5": (0.10, 0.50),
    **dict.fromkeys(("claude-haiku-4-5", "claude-haiku-4-5-20251001"), (1.0, 5.0)),
}
# a model billed at a higher rate once a request's prompt (cache reads and writes counted)
# passes a threshold: (threshold in tokens, the higher prices)
LONG_PROMPT = {"claude-haiku-5-5": (100_000, (0.50, 2.50))}
# retired on the Claude API on PRICES_DATE (models/deprecations; Mythos Preview since
# 2026-06-30, though the SDK still lists it): priced for old labs, never the fallback
RETIRED = frozenset({"claude-opus-4-0", "claude-opus-4-20250514", "claude-opus-4-1",
                     "claude-opus-4-1-20250805", "claude-sonnet-4-0",
                     "claude-sonnet-4-20250514", "claude-mythos-preview"})
DEAREST = max((p for m, p in PRICES.items() if m not in RETIRED), key=lambda p: (p[1], p[0]))
# Forced tool use (tool_choice "tool" or "any") is refused with a 400 by the models with
# always-on or adaptive thinking (the "what's new" pages of Opus 5.5, Sonnet 5.5, Fable 5.1
# and later). Only these models are known to accept it; every other one, an unknown one
# included, gets `auto`, where an answer without the tool call is a "no proposal" row.
FORCED_TOOL_OK = frozenset({
    "claude-opus-4-0", "claude-opus-4-20250514", "claude-opus-4-1", "claude-opus-4-1-20250805",
    "claude-opus-4-5", "claude-opus-4-5-20251101", "claude-opus-4-6", "claude-opus-4-7",
    "claude-opus-4-8", "claude-opus-5", "claude-sonnet-4-0", "claude-sonnet-4-20250514",
    "claude-sonnet-4-5", "claude-sonnet-4-5-20250929", "claude-sonnet-4-6", "claude-sonnet-5",
    "claude-haiku-4-5", "claude-haiku-4-5-20251001", "claude-fable-5", "claude-mythos-5"})
# a request's prompt in tokens is at most its JSON's characters over this: it errs high for
# English and code, also on the newer tokenizer that counts about 30% more tokens
CHARS_PER_TOKEN = 2.5
# multiples of the input price (5-minute cache); newer models read the cache for less,
# so these err on the dear side
CACHE_WRITE, CACHE_READ = 1.25, 0.1


@dataclass(frozen=True)
class ClaudeSettings:
    """[tool.autolab.agent.claude] (ClaudeAgent.Settings); the flat keys of
    [tool.autolab.agent] with these names still count (config.MOVED)."""

    model: str = ""                     # "": DEFAULT_MODEL
    roles: tuple[str, ...] = ()         # "": roles.DEFAULT_ROLES
    usd_per_mtok_input: float = 0.0     # USD per million tokens for `model`; 0: PRICES
    usd_per_mtok_output: float = 0.0

    def __post_init__(self):
        if (self.usd_per_mtok_input > 0) != (self.usd_per_mtok_output > 0):
            raise ValueError("set both `usd_per_mtok_input` and `usd_per_mtok_output`, or "
                             "neither")

    @classmethod
    def of(cls, config: Config, where: str = "[tool.autolab]") -> ClaudeSettings:
        """The settings a lab's config gives, for the agent built without the registry."""
        return plugin_settings(config, "agent", "claude", cls, where)


def price(model: str, agent: ClaudeSettings | None = None) -> tuple[float, float] | None:
    """USD per million (input, output) tokens: the config's, else the table's; None when
    neither knows `model`."""
    if agent is not None and agent.usd_per_mtok_input > 0:
        return agent.usd_per_mtok_input, agent.usd_per_mtok_output
    return PRICES.get(model)


def tool_choice(model: str) -> dict:
    """Force the one tool where the model accepts it; elsewhere let it choose (`auto`)."""
    if model in FORCED_TOOL_OK:
        return {"type": "tool", "name": TOOL}
    return {"type": "auto"}


def api_message(exc: anthropic.APIStatusError) -> str:
    """The API's own message from an error response, on one line."""
    body = exc.body if isinstance(exc.body, dict) else {}
    error = body.get("error") if isinstance(body.get("error"), dict) else body
    text = error.get("message") if isinstance(error, dict) else None
    return " ".join(str(text or exc.message).split())[:500]


def failed(exc: anthropic.APIError, model: str, retries: int) -> str:
    """What an API error means for the run, by its kind. The SDK has already retried what
    is worth retrying (408, 409, 429, 5xx, a dropped connection); any other 4xx is final."""
    if isinstance(exc, anthropic.PermissionDeniedError):
        return (f"the Claude API does not allow this key to use {model} (403): "
                f"{api_message(exc)}; check the key's workspace and the model's access")
    if isinstance(exc, anthropic.NotFoundError):
        return (f"the Claude API does not know the model {model} (404; retired or misspelt?):"
                f" {api_message(exc)}; set `model` in [tool.autolab.agent.claude]")
    if isinstance(exc, anthropic.APIStatusError):
        if exc.status_code in (408, 409, 429) or exc.status_code >= 500:
            return (f"the Claude API failed after {retries} retries ({exc.status_code}): "
                    f"{api_message(exc)}")
        return (f"the Claude API refused the request for {model} ({exc.status_code}, not "
                f"retried): {api_message(exc)}")
    return f"the Claude API failed after {retries} retries ({type(exc).__name__}: {exc})"


def tool_schema(role_names: tuple[str, ...]) -> dict:
    """One definition for every role: tools open the cached prefix, so it must not vary.
    The row records the role the planner asked, whatever `role` the answer names."""
    text = {"type": "string"}
    replacement = {"type": "object", "additionalProperties": False,
                   "required": ["path", "search", "replace"],
                   "properties": {"path": text, "search": text, "replace": text}}
    properties = {
        "role": {"type": "string", "enum": list(role_names)},
        "hypothesis": {"type": "string", "description": "One sentence: the change and the "
                       "effect on the metric it should have."},
        "rationale": {"type": "string", "description": "Why, citing the lineage."},
        "expected_delta": {"type": "number", "description": "Expected change of the primary "
                           "metric (negative is lower)."},
        "replacements": {"type": "array", "items": replacement, "description":
                         "Exact search/replace edits; each search occurs once in its file. "
                         "Empty when `diff` is given."},
        "diff": {"type": "string", "description": "A unified diff against the current script "
                 "(a/ and b/ prefixes). Empty when `replacements` is given."},
        "lineage": {"type": "array", "items": text, "description": "Trial ids that motivated "
                    "this change."}}
    return {"name": TOOL, "strict": True,
            "description": "Submit one change to the training script as an experiment.",
            "input_schema": {"type": "object", "additionalProperties": False,
                             "required": list(properties), "properties": properties}}


def edit_to_diff(files: dict[str, str], answer: dict) -> str:
    """The answer's edit as one unified diff; ValueError says what does not fit the script."""
    blocks = answer.get("replacements") or []
    diff = (answer.get("diff") or "").strip("\n")
    if blocks and diff:
        raise ValueError("give either replacements or a diff, not both")
    if diff:
        return diff + "\n"
    changed: dict[str, str] = {}
    for block in blocks:
        path = block["path"]
        text = changed.get(path, files.get(path))
        if text is None:
            raise ValueError(f"{path} is not one of the editable files ({', '.join(files)})")
        count = text.count(block["search"]) if block["search"] else 0
        if count != 1:
            raise ValueError(f"the search text for {path} occurs {count} times, not once: "
                             f"{block['search'][:200]!r}")
        changed[path] = text.replace(block["search"], block["replace"])
    return "".join(unified_diff(p, files[p], t) for p, t in changed.items() if t != files[p])


class ClaudeAgent(BaseAgent):
    name = "claude"
    free_text = True     # takes ideas in prose, not only NAME=value
    Settings = ClaudeSettings

    @classmethod
    def from_lab(cls, lab: Lab, settings: Any, spend: Spend | None) -> ClaudeAgent:
        return cls(spend=spend, settings=settings)

    def __init__(self, client: anthropic.Anthropic | None = None, spend: Spend | None = None,
                 settings: ClaudeSettings | None = None):
        if client is None:
            if not os.environ.get("ANTHROPIC_API_KEY"):
                raise UserError("the claude agent needs ANTHROPIC_API_KEY in the environment; "
                                "export it, or run with --agent sweep")
            client = anthropic.Anthropic(max_retries=MAX_RETRIES)
        self.client = client
        self.spend = spend              # the run's; made from the first context if not given
        self.settings = settings        # the registry's; else read from the first context
        self.exhausted = ""            # why this agent stopped proposing, for the run's log
        # each proposal of the last batch -> (context, system, messages so far, tool_use id)
        self.threads: dict[Proposal, tuple[Context, list, list, str]] = {}

    def own(self, context: Context) -> ClaudeSettings:
        """This agent's settings: the registry's, else those of the first context's config."""
        if self.settings is None:
            self.settings = ClaudeSettings.of(context.config)
        return self.settings

    # proposing ------------------------------------------------------------
    def propose(self, context: Context) -> list[Proposal]:
        names = self.own(context).roles or roles.DEFAULT_ROLES
        self.threads.clear()   # revise() follows the proposals of this call only
        if context.idea:
            return self._slot(context, roles.best_fit(context.idea, names), context.idea)
        out: list[Proposal] = []
        for role in roles.plan(names, context.history, context.slots):
            taken = context.tried | {k for p in out for k in admit.keys(p.parent_sha, p.diff)}
            out += self._slot(replace(context, tried=frozenset(taken)), role, "", out)
            if self.exhausted:
                break
        return out

    def _slot(self, context: Context, role: str, idea: str,
              batch: Sequence[Proposal] = ()) -> list[Proposal]:
        note = ""
        for _ in range(ATTEMPTS_PER_SLOT):
            system = prompts.system_blocks(context, role)
            messages = [{"role": "user", "content": prompts.user_text(context, role, idea,
                                                                      note)}]
            proposal = self._ask(context, role, system, messages,
                                 "human" if idea else "claude")
            if proposal is None:
                return []
            note = self._repeat_of(context, proposal, batch)
            if not note or idea:   # a person's idea runs even if it was tried before
                return [proposal]
        return []

    def _repeat_of(self, context: Context, p: Proposal, batch) -> str:
        if not p.diff:
            return ""
        if admit.keys(p.parent_sha, p.diff) & context.tried:
            return f"Your last answer repeated an edit already tried: {p.hypothesis}"
        earlier = [r for r in context.history if r.parent_sha == p.parent_sha and r.diff]
        for other in [*earlier, *batch]:
            if prompts.same_idea(p.hypothesis, other.hypothesis):
                return (f"Your last answer described an idea already tried: "
                        f"{other.hypothesis}")
        return ""

    # one call -------------------------------------------------------------
    def _ask(self, context: Context, role: str, system: list, messages: list, source: str,
             spent: tuple[int, int, float] | None = None) -> Proposal | None:
        """One answer; None when the cap or the API ends this agent's run. `spent` is what
        earlier calls for the same proposal cost (None on a first answer), so its row
        carries the total."""
        if self.spend is None:
            self.spend = Spend(context.config.budget.max_usd)
        if self.spend.left() <= 0:
            self.exhausted = f"the run's budget is spent: {self.spend.line()}; stopping"
            return None
        response, limit, tokens_in, tokens_out, cost = self._create(context, system, messages)
        if response is None:
            return None
        first_answer = spent is None
        before = spent or (0, 0, 0.0)
        base = Proposal(role=role, hypothesis="", rationale="", expected_delta=0.0, diff="",
                        parent_sha=context.parent_sha, parent_trial=context.parent_trial,
                        source=source, tokens_in=before[0] + tokens_in,
                        tokens_out=before[1] + tokens_out, cost_usd=before[2] + cost)
        call = next((b for b in response.content if b.type == "tool_use" and b.name == TOOL),
                    None)
        stop = response.stop_reason
        if call is None or stop in ("max_tokens", "refusal"):   # never apply a cut-off edit
            said = " ".join(b.text for b in response.content if b.type == "text").strip()
            if stop == "refusal":
                what = "the model refused"
                why = " ".join(said.split())[:500] or "the model refused without saying why"
            elif stop == "max_tokens":
                what = why = (f"the answer was cut off at max_tokens={limit}, also when "
                              "asked again with a larger limit; its edit is not applied")
            else:
                what = why = f"the model returned no proposal (stop reason {stop})"
            return replace(base, hypothesis=f"no proposal: {what}",
                           rationale=said[:2000] or "(empty answer)", unusable=why)
        answer = call.input
        known = {r.trial_id for r in context.history}
        proposal = replace(
            base,
            hypothesis=" ".join(str(answer.get("hypothesis", "")).split()),
            rationale=str(answer.get("rationale", "")).strip(),
            expected_delta=float(answer.get("expected_delta") or 0.0),
            lineage=tuple(t for t in answer.get("lineage") or () if t in known))
        turn = [*messages, {"role": "assistant", "content": [
            b.to_dict(exclude_none=True) for b in response.content]}]
        try:
            proposal = replace(proposal, diff=edit_to_diff(context.files, answer))
        except ValueError as exc:
            if not first_answer:
                return replace(proposal, rationale=f"{proposal.rationale}\n\n(unusable edit, "
                               f"after one revision: {exc})")
            # the same one chance to fix it that admission gives a diff that does not apply
            self.threads[proposal] = (context, system, turn, call.id)
            return self.revise(proposal, str(exc))
        if first_answer:
            self.threads[proposal] = (context, system, turn, call.id)
        return proposal

    def _create(self, context: Context, system: list, messages: list):
        """(the answer, its max_tokens, input tokens, output tokens, USD) over every call
        it took: one more, with RETRY_MAX_TOKENS, when the first was cut off. The answer
        is None when the API failed before any answer came (`exhausted` says why)."""
        own = self.own(context)
        model = own.model or DEFAULT_MODEL
        names = own.roles or roles.DEFAULT_ROLES
        spend = self.spend
        assert spend is not None, "propose() makes the counter before any call"
        response, totals = None, (0, 0, 0.0)
        tools = [tool_schema(names)]
        prompt = len(json.dumps([system, messages, tools])) / CHARS_PER_TOKEN
        for limit in (MAX_TOKENS, RETRY_MAX_TOKENS):
            per_in, per_out = self._rates(own, model, prompt)
            worst = (prompt * per_in * CACHE_WRITE + limit * per_out) / 1e6
            spend.agent_call_usd = worst    # the runner keeps room for it
            if spend.left() < worst:
                self.exhausted = (f"the run's budget has no room for one more Claude call at "
                                  f"its worst (${worst:.4f}: about {prompt:,.0f} prompt tokens, "
                                  f"max_tokens={limit}): {spend.line()}; stopping")
                break
            try:
                # the SDK's TypedDict overloads cannot see that these plain dicts match them
                answer = self.client.messages.create(  # type: ignore[call-overload]
                    model=model, max_tokens=limit, system=system, messages=messages,
                    tools=tools, tool_choice=tool_choice(model))
            except anthropic.AuthenticationError as exc:
                raise UserError(f"the Anthropic API refused the key in ANTHROPIC_API_KEY "
                                f"({exc.status_code}); check it") from None
            except anthropic.APIError as exc:
                self.exhausted = f"{failed(exc, model, self.client.max_retries)}; stopping"
                break
            except ValueError:  # the SDK will not send the larger limit unstreamed here
                if response is None:
                    raise
                break
            response, used = (answer, limit), self._charge(own, model,
                                                           answer.usage)
            totals = (totals[0] + used[0], totals[1] + used[1], totals[2] + used[2])
            if answer.stop_reason != "max_tokens":
                break
        if response is None:
            return None, 0, *totals
        return (*response, *totals)

    def revise(self, proposal: Proposal, problem: str) -> Proposal | None:
        """Send the edit's error back to the call that wrote it, once; None if it cannot be."""
        thread = self.threads.pop(proposal, None)
        if thread is None:
            return None
        context, system, turn, call_id = thread
        messages = [*turn, {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": call_id, "is_error": True,
             "content": prompts.revise_text(problem)}]}]
        spent = (proposal.tokens_in, proposal.tokens_out, proposal.cost_usd)
        return self._ask(context, proposal.role, system, messages, proposal.source, spent)

    @staticmethod
    def _rates(agent: ClaudeSettings, model: str, prompt_tokens: float) -> tuple[float, float]:
        """USD per million (input, output) tokens of one request of `prompt_tokens`: the
        config's, else the table's (its long-prompt rate past the threshold), else the
        dearest current model's."""
        threshold, long_price = LONG_PROMPT.get(model, (0, None))
        if long_price and not agent.usd_per_mtok_input and prompt_tokens > threshold:
            return long_price
        return price(model, agent) or DEAREST

    def _charge(self, agent: ClaudeSettings, model: str, usage) -> tuple[int, int, float]:
        """(input tokens incl. cache reads and writes, output tokens, USD); adds to the run."""
        read = usage.cache_read_input_tokens or 0
        write = usage.cache_creation_input_tokens or 0
        spend = self.spend
        assert spend is not None, "propose() makes the counter before any call"
        if price(model, agent) is None:
            spend.note_once(
                f"{model} is not in the Claude price table of {PRICES_DATE}: priced as the "
                f"dearest current model (${DEAREST[0]:g}/${DEAREST[1]:g} per million input/output "
                "tokens) so max_usd errs safe; set usd_per_mtok_input and usd_per_mtok_output "
                "in [tool.autolab.agent.claude] to its price")
        per_in, per_out = self._rates(agent, model, usage.input_tokens + read + write)
        cost = (usage.input_tokens * per_in + write * per_in * CACHE_WRITE
                + read * per_in * CACHE_READ + usage.output_tokens * per_out) / 1e6
        spend.agent_usd += cost
        return usage.input_tokens + read + write, usage.output_tokens, cost
