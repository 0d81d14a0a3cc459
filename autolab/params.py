"""Where a lab's settings already are: the tunable values of its editable files.

`discover(lab, files)` reads the editable files at main and returns every value an agent may
change, in the shapes real repositories keep them:

- constant: a module-level assignment of one literal, any case (`LR = 3e-4`, `lr: float = 3e-4`).
  In a file that names its settings in UPPER_CASE, its lowercase names are its variables.
- argparse: `add_argument("--lr", type=float, default=3e-4)`, named as argparse names its dest;
  a `type=` of int or float is respected (`type=float, default=1` steps as a float).
- kwarg: a function's keyword default (`def search(iterations=1000, bounds=(-5, 5))`).
- config: a module-level literal of a .py file that holds only settings (a nanoGPT-style config
  that train.py executes), and the scalars of YAML, TOML and JSON files, nested keys joined
  with dots (`model.n_layer`).

A literal is a bool, int, float, str or tuple of numbers. A name assigned again elsewhere in
its file is state, not a setting. `# autolab: fixed` on the line pins one; names holding
"seed" are left out (a seed is no experiment) unless `[tool.autolab.params].include` names
them. Every `Param` knows its literal's exact span, so a change edits just those characters:
the diff is one line, comments and spacing stay.

Its place in the whole: ARCHITECTURE.md, "Contracts" (the sweep agent proposes over these).
"""

from __future__ import annotations

import ast
import json
import math
import re
import tomllib
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace

import yaml

from autolab.config import Bound, Config, Lab, ParamsConfig
from autolab.errors import ConfigError

FIXED = "autolab: fixed"
SHAPES = ("module-level constants, argparse defaults, keyword defaults of functions, and "
          "scalars of config files (.py, YAML, TOML, JSON)")

Value = bool | int | float | str | tuple


@dataclass(frozen=True)
class Param:
    """One setting: where its literal is, what it holds, and how to write another value."""

    name: str                   # unique in its Discovery: what `NAME=value` and ledgers use
    path: str
    line: int                   # 1-based line of the literal
    kind: str                   # constant, argparse, kwarg or config
    value: Value
    start: int                  # the literal's characters in the file: text[start:end]
    end: int
    style: str = "python"       # how the file writes literals: python, yaml, toml or json
    base: str = ""              # the name as the file has it (a kwarg's argument name)
    owner: str = ""             # a kwarg's function
    quote: str = ""             # an argparse number written as a string ("1e-3"): its quote
    low: float | None = None    # from [tool.autolab.params.bounds]
    high: float | None = None
    choices: tuple = ()         # from the bounds, or argparse's own `choices=`

    def names(self) -> set[str]:
        """Every name a person may call it by in [tool.autolab.params] or `NAME=value`."""
        qualified = f"{self.owner}.{self.base}" if self.owner else self.base
        return {self.name, self.base, qualified, f"{self.path}:{self.base}",
                f"{self.path}:{qualified}"}

    def format(self, value: Value, old: str = "") -> str:
        """`value` as a literal of this file, in the style of the one it replaces."""
        if self.quote:
            return f"{self.quote}{_number_text(value, old)}{self.quote}"
        if self.style == "python":
            return _python_text(value, old)
        if isinstance(value, bool):
            text = "true" if value else "false"
            return text.capitalize() if self.style == "yaml" and old[:1].isupper() else text
        if isinstance(value, str):
            plain = self.style == "yaml" and old[:1] not in "\"'" and _yaml_plain(value)
            return value if plain else json.dumps(value)
        if isinstance(value, float) and self.style == "yaml":
            # YAML 1.1 (PyYAML) reads 1e-05 as a string: its floats need a dot
            text = _number_text(value, old)
            return text if "." in text or "e" not in text else text.replace("e", ".0e", 1)
        return _number_text(value, old) if isinstance(value, (int, float)) else repr(value)

    def read(self, literal: str) -> Value:
        """The value a literal of this file holds (ValueError when it is none)."""
        try:
            if self.quote:
                return _numeric(literal.strip()[1:-1], type(self.value))
            if self.style == "python":
                return ast.literal_eval(literal.strip())
            if self.style == "yaml":
                return yaml.safe_load(literal)
            if self.style == "toml":
                return tomllib.loads(f"v = {literal}")["v"]
            return json.loads(literal)
        except (SyntaxError, TypeError, yaml.YAMLError, tomllib.TOMLDecodeError) as exc:
            raise ValueError(str(exc)) from None

    def rewrite(self, text: str, value: Value) -> str:
        return rewrite(text, [(self, value)])


def rewrite(text: str, edits: Iterable[tuple[Param, Value]]) -> str:
    """The file with each param's literal replaced, and nothing else touched."""
    for param, value in sorted(edits, key=lambda e: -e[0].start):   # later spans first
        old = text[param.start:param.end]
        text = text[:param.start] + param.format(value, old) + text[param.end:]
    return text


@dataclass(frozen=True)
class Discovery:
    params: tuple[Param, ...]
    looked_in: tuple[str, ...]      # the editable files of a shape autolab reads

    def describe(self) -> str:
        """One line for a lab where nothing was found: where it looked, what it reads."""
        shapes = f"autolab reads {SHAPES}"
        if not self.looked_in:
            return (f"found no editable file it can read (.py, .yaml, .yml, .toml, .json) in "
                    f"`editable`; {shapes}")
        return (f"found no setting to change in {', '.join(self.looked_in)}; {shapes}. Write one "
                f"as a literal in one of those shapes, not marked `# {FIXED}` nor excluded in "
                f"[tool.autolab.params]")


def discover(lab: Lab | Config, files: Mapping[str, str]) -> Discovery:
    """The settings of `files` (editable path -> text at main), filtered and bounded by the
    lab's [tool.autolab.params]. A Config is taken too: an agent sees the lab only through it."""
    config = lab.config if isinstance(lab, Lab) else lab
    found: list[Param] = []
    looked = []
    for path in sorted(files):
        reader = READERS.get(path.rsplit(".", 1)[-1].lower()) if "." in path else None
        if reader is not None:
            looked.append(path)
            found += reader(path, files[path])
    return Discovery(_chosen(_named(found), config.params), tuple(looked))


# python ---------------------------------------------------------------------------------------

def _python(path: str, text: str) -> list[Param]:
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError):
        return []
    where = _Positions(text)
    stored = _module_stores(tree)
    settings_only = all(isinstance(n, (ast.Assign, ast.AnnAssign, ast.Expr, ast.Import,
                                       ast.ImportFrom)) for n in tree.body)
    kind = "config" if settings_only else "constant"
    assigns = [found for n in tree.body if (found := _assigned(n))]
    upper = any(name.isupper() and _literal(value) is not None for name, value, _ in assigns)
    out = []
    for name, value, lineno in assigns:
        if (upper and not name.isupper()) or stored[name] > 1 or name.startswith("__"):
            continue
        if (param := where.param(path, name, kind, value, lineno)) is not None:
            out.append(param)
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            out += _kwargs(path, node, where)
        elif (isinstance(node, ast.Call) and _called(node) == "add_argument"
              and (param := _argparse(path, node, where)) is not None):
            out.append(param)
    return out


def _module_stores(tree: ast.Module) -> Counter:
    """How often each name is bound in the module's own scope; a function's `global` counts,
    its locals do not."""
    counts: Counter = Counter()
    todo: list[ast.AST] = list(tree.body)
    while todo:
        node = todo.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)):
            counts.update(name for sub in ast.walk(node) if isinstance(sub, ast.Global)
                          for name in sub.names)
            continue
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            counts[node.id] += 1
        todo.extend(ast.iter_child_nodes(node))
    return counts


def _assigned(node: ast.stmt) -> tuple[str, ast.expr, int] | None:
    """(name, value, line) of `name = value` or `name: type = value`, else None."""
    if isinstance(node, ast.Assign) and len(node.targets) == 1:
        target, value = node.targets[0], node.value
    elif isinstance(node, ast.AnnAssign) and node.value is not None and node.simple:
        target, value = node.target, node.value
    else:
        return None
    return (target.id, value, node.lineno) if isinstance(target, ast.Name) else None


def _literal(node: ast.expr | None) -> Value | None:
    """The value of a literal autolab can step, else None."""
    if node is None:
        return None
    try:
        value = ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return None
    return value if _steppable(value) else None


def _steppable(value) -> bool:
    if isinstance(value, tuple):
        return 0 < len(value) <= 16 and all(_finite(v) for v in value)
    return isinstance(value, (bool, str)) or _finite(value)


def _finite(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _called(call: ast.Call) -> str:
    func = call.func
    return func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")


def _kwargs(path: str, node: ast.FunctionDef | ast.AsyncFunctionDef,
            where: _Positions) -> list[Param]:
    args = node.args
    positional = [*args.posonlyargs, *args.args]
    pairs = list(zip(positional[len(positional) - len(args.defaults):], args.defaults,
                     strict=True))
    pairs += [(a, d) for a, d in zip(args.kwonlyargs, args.kw_defaults, strict=True) if d]
    out = []
    for arg, default in pairs:
        param = where.param(path, arg.arg, "kwarg", default, default.lineno)
        if param is not None:
            out.append(replace(param, owner=node.name))
    return out


def _argparse(path: str, call: ast.Call, where: _Positions) -> Param | None:
    keywords = {k.arg: k.value for k in call.keywords if k.arg}
    options = [a.value for a in call.args
               if isinstance(a, ast.Constant) and isinstance(a.value, str)]
    if "default" not in keywords or not options:
        return None
    dest = _literal(keywords.get("dest"))
    longs = [o for o in options if o.startswith("--")]
    name = dest if isinstance(dest, str) else (longs or options)[0].lstrip("-").replace("-", "_")
    param = where.param(path, name, "argparse", keywords["default"], call.lineno)
    if param is None:
        return None
    wanted = getattr(keywords.get("type"), "id", "")
    if wanted in ("int", "float") and isinstance(param.value, str):
        try:   # argparse passes a string default through `type`: "1e-3" is a float
            number = _numeric(param.value, float if wanted == "float" else int)
        except ValueError:
            return None
        text = where.text[param.start:param.end]
        param = replace(param, value=number, quote=text[0])
    elif wanted == "float" and isinstance(param.value, int) and not isinstance(param.value, bool):
        param = replace(param, value=float(param.value))
    choices = _literal_any(keywords.get("choices"))
    if isinstance(choices, (list, tuple)) and len(choices) > 1:
        param = replace(param, choices=tuple(choices))
    return param


def _literal_any(node: ast.expr | None):
    try:
        return ast.literal_eval(node) if node is not None else None
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return None


class _Positions:
    """A Python file's text with ast's (line, UTF-8 byte column) turned into str offsets."""

    def __init__(self, text: str):
        self.text = text
        self.lines = re.findall(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+$", text)
        self.starts = [0]
        for line in self.lines:
            self.starts.append(self.starts[-1] + len(line))

    def offset(self, lineno: int, col: int) -> int:
        line = self.lines[lineno - 1].encode()
        return self.starts[lineno - 1] + len(line[:col].decode(errors="replace"))

    def param(self, path: str, name: str, kind: str, node: ast.expr,
              anchor: int) -> Param | None:
        """The param for literal `node`, unless it is none or `# autolab: fixed` pins it on
        its own line or the statement's first (`anchor`)."""
        value = _literal(node)
        end_line = node.end_lineno or node.lineno
        if value is None or any(FIXED in self.lines[i - 1]
                                for i in {anchor, node.lineno, end_line}):
            return None
        start = self.offset(node.lineno, node.col_offset)
        end = self.offset(end_line, node.end_col_offset or 0)
        return Param(name=name, path=path, line=node.lineno, kind=kind, value=value,
                     start=start, end=end, base=name)


def _python_text(value: Value, old: str) -> str:
    if isinstance(value, tuple):
        inner = ", ".join(_number_text(v, "") for v in value)
        return f"({inner},)" if len(value) == 1 else f"({inner})"
    if isinstance(value, str) and old[:1] == '"' and not set(value) & set('"\\\n'):
        return f'"{value}"'
    return _number_text(value, old) if _finite(value) else repr(value)


def _number_text(value, old: str) -> str:
    """A float in the notation it replaces (6e-4 stays in e-notation), else repr."""
    if isinstance(value, float) and "e" in old.lower() and value != 0:
        mantissa, exponent = f"{value:.6e}".split("e")
        mantissa = mantissa.rstrip("0").rstrip(".") if "." in mantissa else mantissa
        text = f"{mantissa}e{int(exponent)}"
        return text if float(text) == value else repr(value)
    return repr(value)


def _numeric(text: str, kind: type) -> int | float:
    return int(text) if kind is int else float(text)


# YAML, TOML, JSON -----------------------------------------------------------------------------

def _yaml(path: str, text: str) -> list[Param]:
    loader = yaml.SafeLoader(text)
    try:
        root = loader.get_single_node()
    except yaml.YAMLError:
        return []
    finally:
        loader.dispose()
    out: list[Param] = []
    seen: set[int] = set()   # an alias or a merge key (<<) reaches a scalar a second time

    def walk(node, prefix: str) -> None:
        if not isinstance(node, yaml.MappingNode):
            return
        for key, value in node.value:
            if not isinstance(key, yaml.ScalarNode):
                continue
            name = f"{prefix}{key.value}"
            if isinstance(value, yaml.MappingNode):
                walk(value, f"{name}.")
            elif (isinstance(value, yaml.ScalarNode) and value.style not in ("|", ">")
                  and value.start_mark.index not in seen):
                seen.add(value.start_mark.index)
                try:
                    scalar = loader.construct_object(value)
                except yaml.YAMLError:   # a tag the safe loader refuses
                    continue
                out.append(_scalar(path, text, name, scalar, value.start_mark.index,
                                   value.end_mark.index, "yaml"))

    walk(root, "")
    return [p for p in out if p.kind]


def _toml(path: str, text: str) -> list[Param]:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        return []
    # tomllib keeps no positions: each `key = value` line is located by hand, and kept only
    # when tomllib reads the same value at the same key path
    out: list[Param] = []
    table: list[str] | None = []
    offset = 0
    for line in text.splitlines(keepends=True):
        here, offset = offset, offset + len(line)
        header = re.match(r"\s*(\[\[?)([^\[\]]+)\]\]?\s*(#.*)?$", line)
        pair = re.match(r"(\s*)([A-Za-z0-9_\-\.\s\"']+?)\s*=\s*", line)
        if header:
            table = _toml_keys(f"{header.group(2)} = 0") if header.group(1) == "[" else None
        elif pair and table is not None:
            keys = _toml_keys(f"{pair.group(2)} = 0")
            rest = line[pair.end():]
            token = re.match(r'"(?:[^"\\]|\\.)*"|\'[^\']*\'|[^\s#,\]\}]+', rest)
            if keys and token and re.fullmatch(r"\s*(#[^\n]*)?\s*", rest[token.end():]):
                try:
                    value = tomllib.loads(f"v = {token.group()}")["v"]
                except tomllib.TOMLDecodeError:
                    continue
                if _lookup(data, table + keys) == value:
                    start = here + pair.end()
                    out.append(_scalar(path, text, ".".join(table + keys), value, start,
                                       start + token.end(), "toml"))
    return [p for p in out if p.kind]


def _toml_keys(line: str) -> list[str]:
    """The key path a TOML key (dotted, quoted) names, read by tomllib itself."""
    try:
        node = tomllib.loads(line)
    except tomllib.TOMLDecodeError:
        return []
    keys = []
    while isinstance(node, dict) and len(node) == 1:
        key = next(iter(node))
        keys.append(key)
        node = node[key]
    return keys


def _lookup(data, keys: list[str]):
    for key in keys:
        if not isinstance(data, dict) or key not in data:
            return None
        data = data[key]
    return data


def _json(path: str, text: str) -> list[Param]:
    try:
        json.loads(text)
    except ValueError:
        return []
    decoder, space = json.JSONDecoder(), json.decoder.WHITESPACE  # type: ignore[attr-defined]
    out: list[Param] = []

    # json keeps no positions either: walk the objects, each value read by json's own decoder
    def value(i: int, name: str) -> int:
        i = space.match(text, i).end()
        if text[i] != "{":
            scalar, end = decoder.raw_decode(text, i)
            if name and not isinstance(scalar, (list, dict)):
                out.append(_scalar(path, text, name, scalar, i, end, "json"))
            return end
        i = space.match(text, i + 1).end()
        while text[i] == '"':
            key, i = json.decoder.scanstring(text, i + 1)  # type: ignore[attr-defined]
            i = value(space.match(text, i).end() + 1, f"{name}.{key}" if name else key)
            i = space.match(text, i).end()
            i = space.match(text, i + 1).end() if text[i] == "," else i
        return i + 1

    value(0, "")
    return [p for p in out if p.kind]


def _scalar(path: str, text: str, name: str, value, start: int, end: int, style: str) -> Param:
    """A config file's scalar; kind "" when it is not one autolab steps or it is pinned."""
    line = text.count("\n", 0, start) + 1
    whole = text[text.rfind("\n", 0, start) + 1:]
    usable = (_steppable(value) and not isinstance(value, tuple)
              and FIXED not in whole.split("\n", 1)[0])
    return Param(name=name, path=path, line=line, kind="config" if usable else "",
                 value=value, start=start, end=end, style=style, base=name)


def _yaml_plain(value: str) -> bool:
    try:
        return bool(value) and yaml.safe_load(value) == value and "\n" not in value
    except yaml.YAMLError:
        return False


READERS: dict[str, Callable[[str, str], list[Param]]] = {
    "py": _python, "yaml": _yaml, "yml": _yaml, "toml": _toml, "json": _json}


# names, and what [tool.autolab.params] says ----------------------------------------------------

def _named(found: list[Param]) -> list[Param]:
    """Each param under the shortest name no other one has: its own, its function's, or with
    its path (and line, for two of one name in one file)."""
    def levels(p: Param) -> list[str]:
        qualified = f"{p.owner}.{p.base}" if p.owner else p.base
        return [p.base, qualified, f"{p.path}:{qualified}", f"{p.path}:{qualified}@{p.line}"]

    counts = [Counter(levels(p)[i] for p in found) for i in range(4)]
    return [replace(p, name=next((levels(p)[i] for i in range(3) if counts[i][levels(p)[i]] == 1),
                                 levels(p)[3])) for p in found]


def _chosen(found: list[Param], wanted: ParamsConfig) -> tuple[Param, ...]:
    """include, exclude and bounds applied; a name that matches nothing is the user's mistake
    to hear about, not to be silently ignored."""
    def matching(name: str, what: str) -> list[Param]:
        hits = [p for p in found if name in p.names()]
        if not hits:
            known = ", ".join(p.name for p in found) or "none"
            raise ConfigError(f"[tool.autolab.params] {what} names {name!r}, which is not a "
                              f"setting autolab found (found: {known})")
        return hits

    included = {p for name in wanted.include for p in matching(name, "include")}
    excluded = {p for name in wanted.exclude for p in matching(name, "exclude")}
    bounded: dict[Param, Bound] = {}
    for bound in wanted.bounds:
        for p in matching(bound.name, "bounds"):
            bounded[p] = bound
    out = []
    for p in found:
        if p in excluded or (included and p not in included) or (
                not included and "seed" in p.base.lower()):
            continue
        if p in bounded:
            b = bounded[p]
            p = replace(p, low=b.low, high=b.high, choices=b.choices or p.choices)
        out.append(p)
    return tuple(out)
