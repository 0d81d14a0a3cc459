"""Every exchange with the fake GitHub checked against GitHub's own REST description.

The description is the `api.github.com` document that `@octokit/openapi` ships on npm,
installed at a pinned version under tests/.openapi/ (git-ignored; .ci/run installs it):

    npm install --no-save --prefix tests/.openapi @octokit/openapi@23.0.2

For each exchange the fake answered: its method and path name an operation, its status is
one documented for that operation, its response body validates against the documented
schema, and its request body against the operation's requestBody schema. Schemas are
OpenAPI 3.0 (`nullable`), so they are checked with openapi-schema-validator's OAS30Validator.

One relaxation, on responses only: the fake answers the fields autolab reads, not the dozens
of others GitHub sends (a PR carries two whole repositories), so a response's `required` list
is not enforced; every field the fake does send must have the documented type, enum and
nullability. Request bodies are autolab's own and are checked in full. A `nullable` field
with an `enum` (a running check's `conclusion`) takes null too, as GitHub sends it: the
description leaves null out of such enums, which OpenAPI 3.0.3 asks for.

KNOWN lists the exchanges that break the description and are someone's open work, each with
why (none now). UNDOCUMENTED lists statuses GitHub really answers that the description leaves
out; their bodies are still checked to be GitHub's error shape. Both are counted and named in
the run's closing line, never passed in silence.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

VERSION = "23.0.2"
SPEC = (Path(__file__).parent / ".openapi" / "node_modules" / "@octokit" / "openapi"
        / "generated" / "api.github.com.json")
INSTALL = f"npm install --no-save --prefix tests/.openapi @octokit/openapi@{VERSION}"
PREFIX = "/api/v3"   # the fake serves under GitHub Enterprise's prefix; the paths are the same


KNOWN: dict[tuple[str, str], str] = {}

# statuses GitHub answers but does not document for an operation; the body is still checked
# to be GitHub's usual error shape
UNDOCUMENTED = {
    ("GET", "/repos/{owner}/{repo}/branches/{branch}/protection", 403):
        "a private repository on GitHub Free: 403 'Upgrade to GitHub Pro' (issue 22)",
}


@dataclass
class Tally:
    """What the session checked, for the closing line of the test run."""

    validated: int = 0
    problems: list[str] = field(default_factory=list)
    known: dict[str, int] = field(default_factory=dict)   # KNOWN's reason -> exchanges
    undocumented: dict[str, int] = field(default_factory=dict)  # UNDOCUMENTED's -> exchanges


TALLY = Tally()


def available() -> bool:
    return SPEC.is_file()


@cache
def spec() -> dict:
    return json.loads(SPEC.read_text())


@cache
def routes() -> list[tuple[re.Pattern, str, int]]:
    """(pattern, spec path, literal length) of every path; the most literal match wins, as
    `/commits/{ref}/statuses` must win over a template that also matches it."""
    out = []
    for path in spec()["paths"]:
        pattern = re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(path))
        # a branch name may hold slashes (autolab/t0001): a trailing {branch} takes the rest
        # of the path
        if path.endswith("/{branch}"):
            pattern = pattern.removesuffix("[^/]+") + ".+"
        out.append((re.compile(pattern + r"\Z"), path, len(re.sub(r"\{[^}]+\}", "", path))))
    return out


def operation(method: str, path: str) -> tuple[str, dict] | None:
    found = [(length, template) for pattern, template, length in routes()
             if pattern.match(path) and method.lower() in spec()["paths"][template]]
    if not found:
        return None
    template = max(found)[1]
    return template, spec()["paths"][template][method.lower()]


def follow(ref: str) -> dict:
    node: dict = spec()
    for part in ref.removeprefix("#/").split("/"):
        node = node[part]
    return node


def body_schema(node: dict) -> dict | None:
    while "$ref" in node:
        node = follow(node["$ref"])
    content = node.get("content") or {}
    media = content.get("application/json") or next(iter(content.values()), None)
    return media.get("schema") if media else None


@cache
def validators():
    """(strict, lenient): OAS 3.0 validators; the lenient one, for responses, ignores
    `required` (see the module's docstring)."""
    from jsonschema import validators as jsonschema_validators
    from openapi_schema_validator import OAS30Validator

    enum = OAS30Validator.VALIDATORS["enum"]

    def nullable_enum(validator, enums, instance, schema):
        if not (instance is None and schema.get("nullable")):
            yield from enum(validator, enums, instance, schema)

    strict = jsonschema_validators.extend(OAS30Validator, {"enum": nullable_enum})
    lenient = jsonschema_validators.extend(strict, {"required": lambda *_args: None})
    return strict, lenient


def errors_of(schema: dict, instance: object, strict: bool) -> list[str]:
    strict_cls, lenient_cls = validators()
    # the components travel with the schema so that its `#/components/...` refs resolve
    root = {**schema, "components": spec()["components"]}
    validator = (strict_cls if strict else lenient_cls)(root)
    return [f"{'/'.join(map(str, e.absolute_path)) or '(body)'}: {e.message[:200]}"
            for e in validator.iter_errors(instance)]


def check(method: str, raw_path: str, status: int, request: object, response: object
          ) -> list[str]:
    """What breaks GitHub's description in one exchange; [] when nothing does."""
    path = raw_path.removeprefix(PREFIX)
    found = operation(method, path)
    if found is None:
        return [f"{method} {path}: no such operation in GitHub's REST description"]
    template, op = found
    where = f"{method} {template} → {status}"
    if (method, template) in KNOWN:
        reason = KNOWN[method, template]
        TALLY.known[reason] = TALLY.known.get(reason, 0) + 1
        return []
    documented = op.get("responses", {})
    if (method, template, status) in UNDOCUMENTED:
        reason = UNDOCUMENTED[method, template, status]
        TALLY.undocumented[reason] = TALLY.undocumented.get(reason, 0) + 1
        return [] if isinstance(response, dict) and isinstance(response.get("message"), str) else [
            f"{where}: an error body without a message"]
    if str(status) not in documented and "default" not in documented:
        return [f"{where}: status not documented (documented: {', '.join(documented)})"]
    problems = []
    if request is not None and "requestBody" in op:
        schema = body_schema(op["requestBody"])
        if schema is not None:
            problems += [f"{where}: request {e}" for e in errors_of(schema, request, True)]
    elif request is not None:
        problems.append(f"{where}: a request body where the operation takes none")
    schema = body_schema(documented.get(str(status)) or documented["default"])
    if schema is not None and response is not None:
        problems += [f"{where}: response {e}" for e in errors_of(schema, response, False)]
    elif schema is None and status < 300 and response not in (None, b"", ""):
        # an error answer always carries GitHub's {"message"} even where none is documented
        problems.append(f"{where}: a response body where none is documented")
    return problems


def check_calls(calls) -> list[str]:
    """Check a fake server's recorded exchanges (scripted faults are not GitHub's answers
    and are left out) and add them to the session's tally."""
    problems = []
    for call in calls:
        if call.scripted or not call.status:
            continue
        problems += check(call.method, call.path, call.status, call.body, call.answer)
        TALLY.validated += 1
    TALLY.problems += problems
    return problems
