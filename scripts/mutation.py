"""Mutation testing of ``wrapper/evolink_images/``: does the suite notice small changes to the code?

    scripts/mutation                    # every module (long: see the README for the run time)
    scripts/mutation _rules _addresses  # only these modules (a path under the package, no ".py")
    scripts/mutation --list _rules      # print the mutants, run nothing
    scripts/mutation --survivors _rules # re-run only the mutants that survived the last run

Why a driver of its own and not mutmut: mutmut 3 (3.8.1 read) derives each mutant's module name from
its file path with only a leading ``src/`` stripped, so ``wrapper/evolink_images/_rules.py`` becomes
``wrapper.evolink_images._rules`` and no test is ever associated with a mutant; it also mutates only
function bodies (not the module-level tables and dataclass defaults where this package keeps its
limits) and its in-process trampolines miss the CLI tests' subprocesses.

Each mutant is one change to one module's syntax tree, unparsed into a scratch copy of the checkout
(code, tests and spec; ``PYTHONPATH`` puts its package first, subprocesses included). The tests run
with that copy as their working folder and temporary folder: the checkout is never touched, and
tests edited during a run do not change what it measures. The
operators: comparison swaps (``<`` to ``<=``, ``==`` to ``!=``, ``in`` to ``not in``, ...), ``and``
to ``or`` and back, arithmetic swaps (``+``/``-``, ``*``/``/``, ``//``/``*``), ``not`` and unary
minus removed, numbers +1 and -1, ``True``/``False`` swapped, strings (f-string text included)
wrapped in ``XX``, ``return x`` to ``return None``, and a call made as a statement deleted. All of
the module is mutated (constants, tables, dataclass defaults, default arguments); not mutated:
docstrings, annotations and typing-only constructs, decorators, ``__all__`` and ``if TYPE_CHECKING``
blocks.

Which tests a mutant runs: its module's files in ``TESTS`` (every fast file under ``tests/`` with
``--wide``) are run once unmutated under coverage with one context per test, which records the tests
that executed each line and how long each took. A mutant then runs only the tests that executed the
lines it changes, in suite order, with ``-x``, in a process forked from one that has already imported
pytest and the heavy libraries. A failure there counts as a kill once that same selection has passed
unmutated (a test that needs another to run first must not pass for a kill); otherwise the mutant runs
again against all the files. A mutant on lines no test executed (module-level code runs at import,
outside any test) runs all the files. So a score is a lower bound: a mutant that survives its
module's files might fail a test elsewhere. It is killed when a test fails or the run outruns its
timeout (three times what its selected tests took unmutated, stretched when ``--jobs`` exceeds the
cores, plus twenty seconds; the table counts these timeouts apart). ``--jobs N`` runs N mutants at
once, each in its own copy. Mutants listed in ``scripts/mutation-equivalent.txt`` (one id and a reason
per line) change no behaviour: they are not run and are left out of the score; a listed id that names
no mutant any more is reported. Survivors are written to ``mutation-survivors.txt`` (not kept in git;
``--survivors-file`` for another path).
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import copy
import dataclasses
import importlib
import json
import os
import shutil
import signal
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "wrapper" / "evolink_images"
EQUIVALENT_FILE = ROOT / "scripts" / "mutation-equivalent.txt"
SURVIVORS_FILE = ROOT / "mutation-survivors.txt"

# The test files that exercise each module (module: its path under the package, without ".py").
# A module not listed runs the whole suite (the testpaths), which is slow. Left out everywhere, at 40 s and
# more a run: the raw-socket attacks (tests/test_adversary_wire.py, tests/test_upload_attacks.py) and the
# crash attacks (tests/test_batch_attacks.py, tests/test_adversary_batch.py): real processes, real budgets.
TESTS: dict[str, list[str]] = {
    "_addresses": ["tests/test_addresses.py", "tests/test_rules.py"],
    "_rules": [
        "tests/test_rules.py",
        "tests/test_preflight.py",
        "tests/test_uploads.py",
        "tests/test_upload_details.py",
    ],
    "_preflight": ["tests/test_preflight.py", "tests/test_clients.py", "tests/test_upload_details.py"],
    "_wire/redaction": [
        "tests/test_redaction.py",
        "tests/test_wire.py",
        "tests/test_secrets.py",
        "tests/test_wire_details.py",
    ],
    "_retry": ["tests/test_retry_policy.py", "tests/test_retry.py"],
    "_journal": [
        "tests/test_journal.py",
        "tests/test_journal_records.py",
        "tests/test_journal_files.py",
        "tests/test_disk_index.py",
        "tests/test_batch.py",
    ],
    "_batch": [
        "tests/test_batch_flow.py",
        "tests/test_batch_results.py",
        "tests/test_batch.py",
        "tests/test_journal.py",
        "tests/test_batch_details.py",
    ],
    "_batch_feed": [
        "tests/test_batch_feed.py",
        "tests/test_batch.py",
        "tests/test_journal.py",
        "tests/test_batch_details.py",
    ],
    "_disk_index": ["tests/test_disk_index.py", "tests/test_journal.py", "tests/test_batch_details.py"],
    "_batch_run": [
        "tests/test_batch.py",
        "tests/test_batch_flow.py",
        "tests/test_batch_results.py",
        "tests/test_journal.py",
        "tests/test_batch_cli.py",
        "tests/test_batch_details.py",
        "tests/test_batch_run_records.py",
        "tests/test_batch_run_flow.py",
    ],
    "_polling": [
        "tests/test_polling.py",
        "tests/test_clients.py",
        "tests/test_task_failures.py",
        "tests/test_polling_details.py",
    ],
    "_schedule": ["tests/test_polling.py", "tests/test_polling_details.py"],
    "_download": ["tests/test_downloads.py", "tests/test_download_details.py"],
    "_fetch": ["tests/test_downloads.py", "tests/test_preflight.py", "tests/test_download_details.py"],
    "_errors": [
        "tests/test_task_failures.py",
        "tests/test_errors.py",
        "tests/test_clients.py",
        "tests/test_task.py",
        "tests/test_client_details.py",
    ],
    "_task": [
        "tests/test_task_failures.py",
        "tests/test_task.py",
        "tests/test_answers.py",
        "tests/test_clients.py",
        "tests/test_client_details.py",
    ],
    "_responses": [
        "tests/test_answers.py",
        "tests/test_task_failures.py",
        "tests/test_errors.py",
        "tests/test_wire.py",
        "tests/test_client_details.py",
        "tests/test_responses_details.py",
    ],
    "_requests": ["tests/test_clients.py", "tests/test_rules.py", "tests/test_client_details.py"],
    "_arguments": [
        "tests/test_clients.py",
        "tests/test_polling.py",
        "tests/test_downloads.py",
        "tests/test_batch.py",
        "tests/test_client_details.py",
    ],
    "_callbacks": ["tests/test_callbacks.py", "tests/test_clients.py"],
    "_calls": [
        "tests/test_clients.py",
        "tests/test_uploads.py",
        "tests/test_adversary_teams.py",
        "tests/test_client_details.py",
    ],
    "_client": [
        "tests/test_clients.py",
        "tests/test_uploads.py",
        "tests/test_polling.py",
        "tests/test_downloads.py",
        "tests/test_client_details.py",
        "tests/test_sync_client_details.py",
    ],
    "_async_client": [
        "tests/test_clients.py",
        "tests/test_uploads.py",
        "tests/test_polling.py",
        "tests/test_downloads.py",
        "tests/test_client_details.py",
        "tests/test_async_client_details.py",
    ],
    "__init__": ["tests/test_clients.py", "tests/test_client_details.py"],
    "_config": [
        "tests/test_configuration.py",
        "tests/test_clients.py",
        "tests/test_adversary_teams.py",
        "tests/test_client_details.py",
    ],
    "_local_images": ["tests/test_uploads.py", "tests/test_upload_details.py"],
    "_file_host": ["tests/test_uploads.py", "tests/test_upload_details.py"],
    "_upload_cache": ["tests/test_uploads.py", "tests/test_upload_details.py"],
    "_wire/decoding": ["tests/test_wire.py", "tests/test_wire_details.py"],
    "_wire/guard": ["tests/test_wire.py", "tests/test_wire_details.py"],
    "_wire/deadline": [
        "tests/test_wire.py",
        "tests/test_retry.py",
        "tests/test_polling.py",
        "tests/test_wire_details.py",
    ],
    "_wire/reach": ["tests/test_reach.py", "tests/test_wire_details.py"],
    "_wire/sockets": ["tests/test_wire.py", "tests/test_wire_details.py"],
    "_wire/credentials": [
        "tests/test_secrets.py",
        "tests/test_wire.py",
        "tests/test_redaction.py",
        "tests/test_wire_details.py",
    ],
    "_wire/__init__": ["tests/test_wire.py", "tests/test_wire_details.py"],
    "cli/__init__": ["tests/test_cli.py", "tests/test_cli_paid_tasks.py", "tests/test_cli_details.py"],
    "cli/_parser": [
        "tests/test_cli.py",
        "tests/test_cli_paid_tasks.py",
        "tests/test_batch_cli.py",
        "tests/test_upload_cli.py",
        "tests/test_cli_details.py",
    ],
    "cli/_commands": [
        "tests/test_cli.py",
        "tests/test_cli_paid_tasks.py",
        "tests/test_upload_cli.py",
        "tests/test_cli_details.py",
    ],
    "cli/_batch_command": ["tests/test_batch_cli.py", "tests/test_cli_details.py"],
    "cli/_fake_commands": ["tests/test_cli.py", "tests/test_cli_details.py"],
    "cli/_output": ["tests/test_cli.py", "tests/test_cli_paid_tasks.py", "tests/test_cli_details.py"],
    "cli/_progress": ["tests/test_cli.py", "tests/test_cli_details.py"],
    "cli/_contract_command": ["contract_tests/test_contract_check.py"],
}
# Real processes and real budgets: 40 s and more a run, never run for a mutant (not even with --wide).
SLOW_TESTS = frozenset(
    {
        "tests/test_adversary_wire.py",
        "tests/test_upload_attacks.py",
        "tests/test_batch_attacks.py",
        "tests/test_adversary_batch.py",
    }
)
# Heavy libraries the test runs import, imported once before forking so each mutant starts fast (no pytest
# plugin: pytest must import those itself, to rewrite their asserts).
PRELOAD = [
    "pytest",
    "httpx",
    "trio",
    "jsonschema",
    "yaml",
    "PIL.Image",
    "attrs",
]  # not pytest plugins: pytest rewrites those
# Names whose subscripts and calls are typing only: nothing in them changes behaviour.
TYPING_NAMES = frozenset(
    {"Literal", "Annotated", "Final", "ClassVar", "TypeVar", "ParamSpec", "NewType", "cast", "TypeAlias", "overload"}
)

COMPARE_SWAPS: dict[type[ast.cmpop], type[ast.cmpop]] = {
    ast.Eq: ast.NotEq,
    ast.NotEq: ast.Eq,
    ast.Lt: ast.LtE,
    ast.LtE: ast.Lt,
    ast.Gt: ast.GtE,
    ast.GtE: ast.Gt,
    ast.In: ast.NotIn,
    ast.NotIn: ast.In,
    ast.Is: ast.IsNot,
    ast.IsNot: ast.Is,
}
BINARY_SWAPS: dict[type[ast.operator], type[ast.operator]] = {
    ast.Add: ast.Sub,
    ast.Sub: ast.Add,
    ast.Mult: ast.Div,
    ast.Div: ast.Mult,
    ast.FloorDiv: ast.Mult,
    ast.Mod: ast.FloorDiv,
    ast.Pow: ast.Mult,
}
SYMBOLS = {
    ast.Eq: "==", ast.NotEq: "!=", ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=", ast.In: "in",
    ast.NotIn: "not in", ast.Is: "is", ast.IsNot: "is not", ast.Add: "+", ast.Sub: "-", ast.Mult: "*",
    ast.Div: "/", ast.FloorDiv: "//", ast.Mod: "%", ast.Pow: "**", ast.And: "and", ast.Or: "or",
}  # fmt: skip


@dataclass(frozen=True)
class Mutant:
    """One change to one module: ``index`` is its place in the module's walk, ``key`` its stable id."""

    module: str
    index: int
    key: str
    line: int
    change: str
    end_line: int = 0

    def lines(self) -> range:
        """The source lines the changed node spans."""
        return range(self.line, max(self.line, self.end_line) + 1)


def _short(node: ast.AST, width: int = 48) -> str:
    text = " ".join(ast.unparse(node).split())
    return text if len(text) <= width else text[: width - 3] + "..."


def _is_typing(node: ast.expr) -> bool:
    name = node.id if isinstance(node, ast.Name) else node.attr if isinstance(node, ast.Attribute) else ""
    return name in TYPING_NAMES


class _Mutator(ast.NodeTransformer):
    """Walk a module in a fixed order, numbering each possible change; apply the one numbered ``target``."""

    def __init__(self, module: str, target: int | None) -> None:
        self.module = module
        self.target = target
        self.found: list[Mutant] = []
        self.scope: list[str] = []
        self.seen: dict[str, int] = {}
        self.functions = 0

    def _offer(self, node: ast.AST, change: str, make: Callable[[], ast.AST]) -> ast.AST | None:
        base = f"{self.module}:{'.'.join(self.scope) or '<module>'}: {change}"
        count = self.seen.get(base, 0)
        self.seen[base] = count + 1
        key = base if count == 0 else f"{base} #{count + 1}"
        index = len(self.found)
        line = getattr(node, "lineno", 0)
        self.found.append(Mutant(self.module, index, key, line, change, getattr(node, "end_lineno", None) or line))
        if index != self.target:
            return None
        return ast.copy_location(make(), node)

    # Scopes, and what is never mutated.
    def _scoped(self, node: ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) -> ast.AST:
        self.scope.append(node.name)
        function = not isinstance(node, ast.ClassDef)
        self.functions += function
        body = node.body[1:] if _docstring(node.body) else node.body
        for statement in body:
            self._visit_statement(statement)
        if not isinstance(node, ast.ClassDef):
            for default in [*node.args.defaults, *(d for d in node.args.kw_defaults if d is not None)]:
                self._visit_expression(default)
        self.functions -= function
        self.scope.pop()
        return node

    visit_FunctionDef = _scoped
    visit_AsyncFunctionDef = _scoped
    visit_ClassDef = _scoped

    def _visit_statement(self, statement: ast.stmt) -> None:
        replaced = self.visit(statement)
        if replaced is not statement:
            raise _Replaced(statement, replaced)

    def _visit_expression(self, expression: ast.expr) -> None:
        replaced = self.visit(expression)
        if replaced is not expression:
            raise _Replaced(expression, replaced)

    def visit_Module(self, node: ast.Module) -> ast.AST:
        body = node.body[1:] if _docstring(node.body) else node.body
        for statement in body:
            self._visit_statement(statement)
        return node

    def visit_If(self, node: ast.If) -> ast.AST:
        if isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            return node
        return self._generic(node)

    def visit_AnnAssign(self, node: ast.AnnAssign) -> ast.AST:
        if node.value is None or (isinstance(node.annotation, ast.Name) and node.annotation.id == "TypeAlias"):
            return node
        with self._named(node.target):
            return self._generic_fields(node, ["value"])

    def visit_Assign(self, node: ast.Assign) -> ast.AST:
        if any(isinstance(target, ast.Name) and target.id == "__all__" for target in node.targets):
            return node
        with self._named(node.targets[0] if len(node.targets) == 1 else None):
            return self._generic(node)

    @contextlib.contextmanager
    def _named(self, target: ast.expr | None) -> Iterator[None]:
        """Outside functions, a constant's id names the table it is in (``WAN_RULES``, ``ModelRules.n``)."""
        named = isinstance(target, ast.Name) and not self.functions
        if named:
            self.scope.append(target.id)  # type: ignore[union-attr]
        try:
            yield
        finally:
            if named:
                self.scope.pop()

    def visit_arguments(self, node: ast.arguments) -> ast.AST:
        return node  # defaults are visited by _scoped (Lambda's by visit_Lambda)

    def visit_Lambda(self, node: ast.Lambda) -> ast.AST:
        return self._generic_fields(node, ["body"])

    def visit_Subscript(self, node: ast.Subscript) -> ast.AST:
        return node if _is_typing(node.value) else self._generic(node)

    def visit_Call(self, node: ast.Call) -> ast.AST:
        return node if _is_typing(node.func) else self._generic(node)

    def visit_FormattedValue(self, node: ast.FormattedValue) -> ast.AST:
        return self._generic_fields(node, ["value"])  # not the format spec

    def visit_Expr(self, node: ast.Expr) -> ast.AST:
        if isinstance(node.value, ast.Constant):
            return node  # a docstring or a bare literal
        if isinstance(node.value, ast.Call | ast.Await):
            made = self._offer(node, f"delete the call {_short(node.value)}", ast.Pass)
            if made is not None:
                return made
        return self._generic(node)

    # Operators.
    def visit_Compare(self, node: ast.Compare) -> ast.AST:
        for position, op in enumerate(node.ops):
            swap = COMPARE_SWAPS.get(type(op))
            if swap is None:
                continue

            def make(position: int = position, swap: type[ast.cmpop] = swap) -> ast.AST:
                return ast.Compare(
                    node.left, [*node.ops[:position], swap(), *node.ops[position + 1 :]], node.comparators
                )

            made = self._offer(node, f"{_short(node)}: {SYMBOLS[type(op)]} -> {SYMBOLS[swap]}", make)
            if made is not None:
                return made
        return self._generic(node)

    def visit_BoolOp(self, node: ast.BoolOp) -> ast.AST:
        swap: ast.boolop = ast.Or() if isinstance(node.op, ast.And) else ast.And()
        made = self._offer(
            node,
            f"{_short(node)}: {SYMBOLS[type(node.op)]} -> {SYMBOLS[type(swap)]}",
            lambda: ast.BoolOp(swap, node.values),
        )
        return made if made is not None else self._generic(node)

    def visit_BinOp(self, node: ast.BinOp) -> ast.AST:
        swap = BINARY_SWAPS.get(type(node.op))
        strings = any(isinstance(side, ast.JoinedStr) or _is_str(side) for side in (node.left, node.right))
        if swap is not None and not strings:
            change = f"{_short(node)}: {SYMBOLS[type(node.op)]} -> {SYMBOLS[swap]}"
            made = self._offer(node, change, lambda: ast.BinOp(node.left, swap(), node.right))
            if made is not None:
                return made
        return self._generic(node)

    def visit_AugAssign(self, node: ast.AugAssign) -> ast.AST:
        swap = BINARY_SWAPS.get(type(node.op))
        if swap is not None and not _is_str(node.value):
            change = f"{_short(node)}: {SYMBOLS[type(node.op)]}= -> {SYMBOLS[swap]}="
            made = self._offer(node, change, lambda: ast.AugAssign(node.target, swap(), node.value))
            if made is not None:
                return made
        return self._generic_fields(node, ["value"])

    def visit_UnaryOp(self, node: ast.UnaryOp) -> ast.AST:
        if isinstance(node.op, ast.Not | ast.USub):
            word = "not" if isinstance(node.op, ast.Not) else "unary -"
            made = self._offer(node, f"{_short(node)}: drop {word}", lambda: node.operand)
            if made is not None:
                return made
        return self._generic(node)

    def visit_Return(self, node: ast.Return) -> ast.AST:
        value = node.value
        if value is not None and not (isinstance(value, ast.Constant) and value.value is None):
            made = self._offer(node, f"return {_short(value)} -> return None", lambda: ast.Return(ast.Constant(None)))
            if made is not None:
                return made
        return self._generic(node)

    def visit_Constant(self, node: ast.Constant) -> ast.AST:
        value = node.value
        changes: list[object] = []
        if isinstance(value, bool):
            changes = [not value]
        elif isinstance(value, int | float):
            changes = [value + 1, value - 1]
        elif isinstance(value, str):
            changes = [f"XX{value}XX"]
        for new in changes:
            made = self._offer(node, f"{value!r} -> {new!r}", lambda new=new: ast.Constant(new))  # type: ignore[misc]
            if made is not None:
                return made
        return node

    # Walking.
    def _generic(self, node: ast.AST) -> ast.AST:
        return self._generic_fields(node, list(node._fields))

    def _generic_fields(self, node: ast.AST, fields: list[str]) -> ast.AST:
        for field in fields:
            value = getattr(node, field, None)
            if isinstance(value, list):
                for position, item in enumerate(value):
                    if isinstance(item, ast.AST):
                        new = self.visit(item)
                        if new is not item:
                            value[position] = new
                            return node
            elif isinstance(value, ast.AST):
                new = self.visit(value)
                if new is not value:
                    setattr(node, field, new)
                    return node
        return node

    def generic_visit(self, node: ast.AST) -> ast.AST:
        return self._generic(node)


class _Replaced(Exception):
    """A statement or default was itself the mutated node: its parent swaps it in."""

    def __init__(self, old: ast.AST, new: ast.AST) -> None:
        self.old, self.new = old, new


def _docstring(body: list[ast.stmt]) -> bool:
    return bool(body) and isinstance(body[0], ast.Expr) and _is_str(body[0].value)


def _is_str(node: ast.expr) -> bool:
    return isinstance(node, ast.Constant) and isinstance(node.value, str)


def _swap_in(tree: ast.AST, old: ast.AST, new: ast.AST) -> None:
    for parent in ast.walk(tree):
        for field, value in ast.iter_fields(parent):
            if isinstance(value, list) and any(item is old for item in value):
                value[[id(item) for item in value].index(id(old))] = new
                return
            if value is old:
                setattr(parent, field, new)
                return
    raise AssertionError("the mutated node has no parent")


def mutants_of(module: str) -> list[Mutant]:
    """Every mutant of ``module`` (a path under the package, without ".py")."""
    tree = ast.parse((PACKAGE / f"{module}.py").read_text(encoding="utf-8"))
    walker = _Mutator(module, None)
    walker.visit(tree)
    return walker.found


def mutated_source(module: str, index: int) -> str:
    """The source of ``module`` with mutant ``index`` applied."""
    tree = ast.parse((PACKAGE / f"{module}.py").read_text(encoding="utf-8"))
    pristine = copy.deepcopy(tree)
    walker = _Mutator(module, index)
    try:
        walker.visit(tree)
    except _Replaced as replaced:
        _swap_in(tree, replaced.old, replaced.new)
    source = ast.unparse(ast.fix_missing_locations(tree))
    if source == ast.unparse(pristine):
        raise AssertionError(f"mutant {module}#{index} changes nothing")
    return source


def all_modules() -> list[str]:
    """The package's modules, as paths under it without ".py" (``testing/`` is test code: left out)."""
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE).with_suffix("").as_posix()
        if not relative.startswith("testing/") and "__pycache__" not in relative:
            found.append(relative)
    return found


def read_equivalents() -> dict[str, str]:
    """The equivalent mutants kept in the repo: ``key | reason`` per line, ``#`` comments."""
    equivalent: dict[str, str] = {}
    for number, line in enumerate(EQUIVALENT_FILE.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        key, bar, reason = line.rpartition(" | ")
        if not bar or not reason.strip():
            raise SystemExit(f"{EQUIVALENT_FILE.name}:{number}: a line is 'mutant id | reason'")
        equivalent[key.strip()] = reason.strip()
    return equivalent


def stale_equivalents(equivalent: dict[str, str], modules: list[str]) -> list[str]:
    """The equivalent ids of ``modules`` that name no mutant now: the code they described has changed."""
    existing = {mutant.key for module in modules for mutant in mutants_of(module)}
    return [key for key in equivalent if key.partition(":")[0] in modules and key not in existing]


# What a scratch project leaves out of the checkout: history, environments, caches and outputs.
NOT_COPIED = shutil.ignore_patterns(
    ".git", ".venv", "venv*", "__pycache__", ".*_cache", ".hypothesis", "out", "htmlcov", "*.png", "mutation-*.txt"
)


@contextlib.contextmanager
def scratch_project() -> Iterator[Path]:
    """A copy of the checkout (code, tests, spec) in a temp dir: mutants run there, never in the checkout.

    The tests are copied too, so editing them while a run goes on does not change what that run measures,
    and whatever a mutant writes into its working folder (a database named ``XXXX``...) stays in the copy.
    """
    with tempfile.TemporaryDirectory(prefix="evolink-mutation-") as temp:
        project = Path(temp) / "project"
        shutil.copytree(ROOT, project, ignore=NOT_COPIED)
        (Path(temp) / "tmp").mkdir()
        yield project


def unused_plugins(project: Path, tests: list[str]) -> list[str]:
    """``-p no:...`` for the plugins that ``tests`` do not use: loading them is most of a run's start-up."""
    if not tests:
        return []  # the whole suite: every plugin
    texts = [(project / path).read_text(encoding="utf-8") for path in {test.partition("::")[0] for test in tests}]
    unused = ["schemathesis", "pytest_cov"]
    if not any("hypothesis" in text for text in texts):
        unused.append("hypothesispytest")
    return [option for name in unused for option in ("-p", f"no:{name}")]


def start_tests(project: Path, tests: list[str], *, measure: bool = False) -> int:
    """Start ``tests`` in a forked child, in ``project`` and against its ``wrapper/``; return the child's pid.

    With ``measure``, the run records which test executed each line (``COVERAGE_MAP`` beside the project).
    """
    pid = os.fork()
    if pid == 0:  # the child: never returns
        code = DRIVER_FAILED
        try:
            os.setsid()
            # A shell starts a background job with SIGINT ignored; the Ctrl-C tests need Python's handler.
            signal.signal(signal.SIGINT, signal.default_int_handler)
            log = os.open(project.parent / "pytest.log", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            os.dup2(log, 1)
            os.dup2(log, 2)
            stdin = os.open(os.devnull, os.O_RDONLY)
            os.dup2(stdin, 0)
            os.chdir(project)
            os.environ["PYTHONPATH"] = f"{project / 'wrapper'}{os.pathsep}{project / 'generated'}"
            os.environ["PYTHONDONTWRITEBYTECODE"] = "1"
            os.environ["TMPDIR"] = str(project.parent / "tmp")
            tempfile.tempdir = None
            os.environ.setdefault("HYPOTHESIS_PROFILE", "ci")
            sys.path.insert(0, str(project / "wrapper"))
            sys.dont_write_bytecode = True
            import pytest

            # Its own temporary folder: other pytest sessions on the machine prune the shared one.
            options = ["-q", "-p", "no:cacheprovider", f"--basetemp={project.parent / 'pytest-tmp'}"]
            plugins: list[object] = []
            if measure:
                os.environ["COVERAGE_FILE"] = str(project.parent / COVERAGE_MAP)
                options += ["--cov=evolink_images", "--cov-context=test", "--cov-report="]
                plugins.append(_TestTimes(project.parent / TEST_TIMES))
            else:
                options += ["-x", *unused_plugins(project, tests)]
            code = SESSION_CRASHED
            code = int(pytest.main([*options, *tests], plugins=plugins))
        except BaseException:
            traceback.print_exc()
        finally:
            os._exit(code)
    return pid


class _TestTimes:
    """A pytest plugin: each test's place in the run and its seconds (setup, call and teardown), as JSON."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.times: dict[str, list[float]] = {}

    def pytest_runtest_logreport(self, report: Any) -> None:
        place = self.times.setdefault(report.nodeid, [len(self.times), 0.0])
        place[1] += report.duration

    def pytest_sessionfinish(self) -> None:
        self.path.write_text(json.dumps(self.times), encoding="utf-8")


# pytest's exit codes: 1 is "tests failed", 2 an interrupted run (a collection error: the mutant broke an
# import), 3 an internal error (the mutant broke what a plugin or fixture runs; the unmutated run passed);
# 4 (usage: a test id not found) and 5 (no tests collected) say the selection was wrong.
SESSION_CRASHED = 96  # pytest.main raised (an unraisable exception at the session's end, say): as a failure
KILLED_CODES = frozenset({1, 2, 3, SESSION_CRASHED})
DRIVER_FAILED = 97  # the child failed before pytest could run: a fault of this driver, never a kill
WRONG_SELECTION_CODES = frozenset({4, 5})
COVERAGE_MAP = "coverage-map"
TEST_TIMES = "test-times.json"


def finished(pid: int, deadline: float) -> int | None:
    """None while the child runs; else its exit code (-9 when it outran ``deadline`` and was killed)."""
    done, status = os.waitpid(pid, os.WNOHANG)
    if done:
        return os.waitstatus_to_exitcode(status)
    if time.monotonic() <= deadline:
        return None
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    return -signal.SIGKILL


def run_tests(project: Path, tests: list[str], timeout: float, *, measure: bool = False) -> tuple[int, float]:
    """Run ``tests`` in ``project`` to the end; return (exit code, or -9 on timeout; seconds)."""
    start = time.monotonic()
    pid = start_tests(project, tests, measure=measure)
    while (code := finished(pid, start + timeout)) is None:
        time.sleep(0.02)
    return code, time.monotonic() - start


@dataclass(frozen=True)
class Measured:
    """What the unmutated run of the test files saw: who ran each line of a module, in which order, how long."""

    files: list[str]  # the module's own test files: what a mutant of a line no test ran is run against
    lines: dict[int, set[str]]  # line: the ids of the tests that executed it
    outside: set[int]  # the lines executed outside any test too (at import, in a conftest, a fixture's setup)
    places: dict[str, int]  # test id: its place in the run
    seconds: dict[str, float]  # test id: its setup, call and teardown

    def selection(self, mutant: Mutant) -> list[str]:
        """The tests that executed ``mutant``'s lines, in the order they ran; the module's files when none did.

        Lines run only at import, or only in a subprocess, have no test: their mutants run every file. So do
        the mutants of lines also run outside any test: what they computed there (a conftest's import) may be
        what a test relies on without executing them again.
        """
        if not self.outside.isdisjoint(mutant.lines()):
            return self.files
        ids: set[str] = set()
        for line in mutant.lines():
            ids |= self.lines.get(line, set())
        return sorted(ids, key=lambda test: self.places.get(test, len(self.places))) if ids else self.files

    def timeout(self, tests: list[str], stretch: float) -> float:
        """Three times what ``tests`` took unmutated (``stretch`` for a shared machine), plus start-up room."""
        files = set(tests)
        spent = sum(seconds for test, seconds in self.seconds.items() if test in files or test.split("::")[0] in files)
        return 3 * spent * stretch + 20


def measure(
    project: Path, files: list[str], cache: dict[tuple[str, ...], tuple[int, float, Path]]
) -> tuple[int, float, Path]:
    """Run ``files`` unmutated, recording who ran each line; once per list of files. Return (code, seconds, record)."""
    key = tuple(files)
    if key not in cache:
        code, seconds = run_tests(project, files, timeout=1800, measure=True)
        record = project.parent / f"measured-{len(cache)}"
        record.mkdir()
        if code == 0:
            (project.parent / COVERAGE_MAP).rename(record / COVERAGE_MAP)
            (project.parent / TEST_TIMES).rename(record / TEST_TIMES)
        cache[key] = (code, seconds, record)
    return cache[key]


def measured(record: Path, project: Path, module: str, files: list[str]) -> Measured:
    """Read what a measured run (``measure``) recorded for ``module``."""
    import coverage

    data = coverage.CoverageData(basename=str(record / COVERAGE_MAP))
    data.read()
    wanted = os.path.realpath(project / "wrapper" / "evolink_images" / f"{module}.py")
    lines: dict[int, set[str]] = {}
    outside: set[int] = set()
    for path in data.measured_files():
        if os.path.realpath(path) == wanted:
            for line, contexts in data.contexts_by_lineno(path).items():
                ids = {context.rpartition("|")[0] for context in contexts if "|" in context}
                if ids:
                    lines.setdefault(line, set()).update(ids)
                if any("|" not in context for context in contexts):
                    outside.add(line)
    times = json.loads((record / TEST_TIMES).read_text(encoding="utf-8"))
    places = {test: int(place) for test, (place, _) in times.items()}
    seconds = {test: float(spent) for test, (_, spent) in times.items()}
    return Measured(files, lines, outside, places, seconds)


RUNS: dict[str, int] = {}  # test runs by phase, for the closing line


@dataclass
class _Slot:
    """One scratch project and the mutant whose tests run there, if any."""

    project: Path
    mutant: Mutant | None = None
    phase: str = ""  # "selected": the mutant against its tests; "check": those tests unmutated; "all": every file
    selection: list[str] = dataclasses.field(default_factory=list)
    first_code: int = 0  # the exit code of the "selected" phase
    module_file: str = ""  # the mutated module's file name under the package
    pid: int = 0
    deadline: float = 0.0

    def start(self, phase: str, source: str, tests: list[str], timeout: float) -> None:
        self.phase = phase
        RUNS[phase] = RUNS.get(phase, 0) + 1
        (self.project / "wrapper" / "evolink_images" / self.module_file).write_text(source, encoding="utf-8")
        self.pid = start_tests(self.project, tests)
        self.deadline = time.monotonic() + timeout


@dataclass
class _Tally:
    mutants: int = 0
    killed: int = 0
    timed_out: int = 0  # of the killed: the tests outran their timeout (an endless loop, or a slow machine)
    survived: int = 0
    equivalent: int = 0

    def add(self, other: _Tally) -> None:
        self.mutants += other.mutants
        self.killed += other.killed
        self.timed_out += other.timed_out
        self.survived += other.survived
        self.equivalent += other.equivalent

    def score(self) -> str:
        counted = self.mutants - self.equivalent
        return f"{100 * self.killed / counted:5.1f}%" if counted else "    -"

    def row(self, name: str) -> str:
        counts = f"{self.mutants:7} {self.killed:7} {self.timed_out:8} {self.survived:8} {self.equivalent:10}"
        return f"{name:24} {counts} {self.score():>7}"


HEADER = f"{'module':24} {'mutants':>7} {'killed':>7} {'timeouts':>8} {'survived':>8} {'equivalent':>10} {'score':>7}"


def run_module(
    module: str, mutants: list[Mutant], slots: list[_Slot], seen: Measured, stretch: float, survivors: list[str]
) -> _Tally:
    """Run ``mutants`` of ``module`` across ``slots`` (each its own scratch project); tally them.

    Each mutant first runs only the tests that executed its lines (``seen``). A failure there is a kill
    once those same tests have passed unmutated (checked once per selection: a test that needs another to
    run first must not pass for a kill); otherwise, and when the selection cannot run (a test id not
    found, nothing collected), the mutant runs again against every file.
    """
    tally = _Tally()
    pending = list(mutants)
    original = (PACKAGE / f"{module}.py").read_text(encoding="utf-8")
    passes_unmutated: dict[tuple[str, ...], bool] = {}
    started = time.monotonic()
    for slot in slots:
        slot.module_file = f"{module}.py"
    try:
        while pending or any(slot.mutant for slot in slots):
            for slot in slots:
                if slot.mutant is None and pending:
                    slot.mutant = pending.pop(0)
                    slot.selection = seen.selection(slot.mutant)
                    source = mutated_source(module, slot.mutant.index)
                    slot.start("selected", source, slot.selection, seen.timeout(slot.selection, stretch))
                if slot.mutant is None:
                    continue
                code = finished(slot.pid, slot.deadline)
                if code is None:
                    continue
                mutant = slot.mutant
                if code not in (0, -signal.SIGKILL, *KILLED_CODES, *WRONG_SELECTION_CODES):
                    log = (slot.project.parent / "pytest.log").read_text(encoding="utf-8", errors="replace")
                    raise SystemExit(f"{module}: code {code} for {mutant.key} ({slot.phase}):\n{log[-3000:]}")
                key = tuple(slot.selection)
                if slot.phase == "selected" and slot.selection != seen.files and code != 0:
                    slot.first_code = code
                    if code in WRONG_SELECTION_CODES or passes_unmutated.get(key) is False:
                        slot.start(
                            "all", mutated_source(module, mutant.index), seen.files, seen.timeout(seen.files, stretch)
                        )
                        continue
                    if key not in passes_unmutated:
                        slot.start("check", original, slot.selection, seen.timeout(slot.selection, stretch) + 30)
                        continue
                elif slot.phase == "check":
                    passes_unmutated[key] = code == 0
                    if code != 0:
                        slot.start(
                            "all", mutated_source(module, mutant.index), seen.files, seen.timeout(seen.files, stretch)
                        )
                        continue
                    code = slot.first_code
                # A code 4 or 5 gets here only from a run of all the files, which passed unmutated: a collection
                # that fails (4: a conftest's import broke) or finds nothing (5) is the mutant's doing, a kill.
                slot.mutant = None
                done = len(mutants) - len(pending) - sum(1 for other in slots if other.mutant)
                if done % 25 == 0:
                    print(f"  {module}: {done} of {len(mutants)} run, {time.monotonic() - started:.0f} s", flush=True)
                if code != 0:
                    tally.killed += 1
                    tally.timed_out += code == -signal.SIGKILL
                else:
                    tally.survived += 1
                    survivors.append(f"{module}\t{mutant.key}\tline {mutant.line}")
                    print(f"  survived: {module}.py:{mutant.line}  {mutant.key}", flush=True)
            time.sleep(0.02)
    finally:
        for slot in slots:
            if slot.mutant is not None:
                with contextlib.suppress(ProcessLookupError, ChildProcessError):
                    os.killpg(slot.pid, signal.SIGKILL)
                    os.waitpid(slot.pid, 0)
                slot.mutant = None
            (slot.project / "wrapper" / "evolink_images" / f"{module}.py").write_text(original, encoding="utf-8")
    return tally


def main(argv: list[str]) -> int:
    """Run the mutants of the modules named in ``argv`` (all by default) and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("modules", nargs="*", help="modules under the package, e.g. _rules _wire/redaction")
    parser.add_argument("--list", action="store_true", help="print the mutants and run nothing")
    parser.add_argument("--survivors", action="store_true", help="re-run only the last run's survivors")
    parser.add_argument("--jobs", type=int, default=1, help="mutants run at once, each in its own copy (default 1)")
    parser.add_argument(
        "--wide",
        action="store_true",
        help="every module against all of tests/ but the slow attacks (each mutant still runs only the tests that"
        " executed its lines), instead of the files TESTS lists for it",
    )
    parser.add_argument(
        "--survivors-file",
        type=Path,
        default=SURVIVORS_FILE,
        help=f"where survivors are read (--survivors) and written (default {SURVIVORS_FILE.name})",
    )
    options = parser.parse_args(argv)
    modules = options.modules or all_modules()
    unknown = [module for module in modules if not (PACKAGE / f"{module}.py").is_file()]
    if unknown:
        parser.error(f"no such module under {PACKAGE.relative_to(ROOT)}: {', '.join(unknown)}")
    unlisted = [module for module in modules if module not in TESTS]
    if unlisted:
        parser.error(f"no test files listed in TESTS for: {', '.join(unlisted)}")
    if options.jobs < 1:
        parser.error("--jobs is at least 1")
    equivalent = read_equivalents()
    stale = stale_equivalents(equivalent, modules)
    if stale:
        print(f"{EQUIVALENT_FILE.name}: no such mutant any more (remove the line): {'; '.join(stale)}")
    if options.list:
        for module in modules:
            for mutant in mutants_of(module):
                mark = "  (equivalent)" if mutant.key in equivalent else ""
                print(f"{mutant.module}.py:{mutant.line}  {mutant.key}{mark}")
        return 0
    survivors_file: Path = options.survivors_file
    previous = survivors_file.read_text(encoding="utf-8") if survivors_file.exists() else ""
    rerun = {line.split("\t")[1] for line in previous.splitlines() if "\t" in line} if options.survivors else None
    kept = [line for line in previous.splitlines() if line.split("\t")[0] not in modules] if previous else []
    for name in PRELOAD:
        importlib.import_module(name)
    if "evolink_images" in sys.modules:
        raise SystemExit("the driver must not import the code it mutates before forking")
    tallies: dict[str, _Tally] = {}
    survivors: list[str] = []
    broken: list[str] = []
    started = time.monotonic()
    wide = sorted(path.relative_to(ROOT).as_posix() for path in (ROOT / "tests").glob("test_*.py"))
    wide = [path for path in wide if path not in SLOW_TESTS]
    measurements: dict[tuple[str, ...], tuple[int, float, Path]] = {}
    with contextlib.ExitStack() as stack:
        slots = [_Slot(stack.enter_context(scratch_project())) for _ in range(options.jobs)]
        for module in modules:
            tests = wide if options.wide else TESTS.get(module, [])
            missing = [path for path in tests if not (ROOT / path).is_file()]
            if missing:
                raise SystemExit(f"TESTS lists test files that do not exist: {', '.join(missing)}")
            code, baseline, record = measure(slots[0].project, tests, measurements)
            if code != 0:
                print(f"{module}: its tests fail without any mutant ({' '.join(tests) or 'the whole suite'}): skipped")
                print((slots[0].project.parent / "pytest.log").read_text(encoding="utf-8", errors="replace")[-3000:])
                broken.append(module)
                continue
            tally = tallies[module] = _Tally()
            to_run = []
            for mutant in mutants_of(module):
                tally.mutants += 1
                if mutant.key in equivalent:
                    tally.equivalent += 1
                elif rerun is not None and mutant.key not in rerun:
                    tally.killed += 1  # killed last time; not run again
                else:
                    to_run.append(mutant)
            seen = measured(record, slots[0].project, module, TESTS.get(module, []))
            # Room for the other jobs sharing the machine's cores.
            stretch = max(1.0, options.jobs / (os.cpu_count() or 1))
            tally.add(run_module(module, to_run, slots, seen, stretch, survivors))
            print(f"{tally.row(module)}   (its tests: {baseline:.1f} s unmutated)", flush=True)
    survivors_file.write_text("".join(f"{line}\n" for line in [*kept, *survivors]), encoding="utf-8")
    total = _Tally()
    print(f"\n{HEADER}")
    for module, tally in tallies.items():
        print(tally.row(module))
        total.add(tally)
    print(total.row("all"))
    print(f"\n{time.monotonic() - started:.0f} s with {options.jobs} job(s); survivors in {survivors_file}")
    print(f"test runs: {', '.join(f'{count} {phase}' for phase, count in RUNS.items())}")
    if options.survivors:
        print("(--survivors: mutants killed in the previous run were not run again)")
    if broken:
        print(f"NOT MEASURED (their tests fail unmutated): {', '.join(broken)}")
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
