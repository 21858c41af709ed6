"""The opt-in live contract probe: zero-credit requests to the real API, checked against the spec.

Every request in the plan must be refused before any task exists (missing or wrong key, each
request constraint violated in turn, an unknown task id), so none can be billed. Each answer's
status and error body are checked against what the spec promises. If the API ever accepts one,
that is a contract break: the probe stops there, at most one task created, and prints its id.

Then it reads the keyless, free model catalog (``catalog.py``): both models must be ``active``;
and it checks the file host (``file_host_probe.py``): a keyed, free quota read, and an upload of a
text file that must be refused before anything is stored.
With ``--task-id``, it also reads one task that already exists and checks its body against the
spec's ``Task`` schema (a read costs nothing).

    evolink-images contract-check --live                  # sends it, with EVOLINK_API_KEY (exit 2 without)
    evolink-images contract-check --live --task-id ID     # and checks one existing task

Exit codes: 0 the API kept its contract (warnings are printed), 1 a failure, 2 not sent (no key).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from evolink_images._addresses import is_loopback_host
from evolink_images.testing.payloads import qwen_body, wan_body
from evolink_images.testing.spec import schema_validator

from .catalog import check_catalog
from .file_host_probe import FILE_PROBES, check_file_host

DEFAULT_BASE_URL = "https://api.evolink.ai"
DEFAULT_FILES_BASE_URL = "https://files-api.evolink.ai"
SUBMIT = "/v1/images/generations"


@dataclass(frozen=True)
class Probe:
    """One request and the statuses the spec allows for it."""

    name: str
    method: str
    path: str
    body: dict[str, Any] | None
    auth: str  # "key", "none" or "wrong"
    expect: frozenset[int]


def _bad(name: str, body: dict[str, Any]) -> Probe:
    return Probe(f"refuses {name}", "POST", SUBMIT, body, "key", frozenset({400}))


PLAN = [
    Probe("refuses a submit without a key", "POST", SUBMIT, wan_body(), "none", frozenset({401})),
    Probe("refuses a submit with a wrong key", "POST", SUBMIT, wan_body(), "wrong", frozenset({401})),
    Probe("refuses a task read without a key", "GET", "/v1/tasks/task-unified-0-probe", None, "none", frozenset({401})),
    _bad("an empty prompt", wan_body(prompt="")),
    _bad("a prompt of 2001 characters", wan_body(prompt="x" * 2001)),
    _bad("no image_urls", wan_body(image_urls=[])),
    _bad("3 image_urls for wan2.5-image-to-image", wan_body(image_urls=["https://example.com/a.png"] * 3)),
    _bad("4 image_urls for qwen-image-edit", qwen_body(image_urls=["https://example.com/a.png"] * 4)),
    _bad("a relative image URL", wan_body(image_urls=["/a.png"])),
    _bad("n=0", wan_body(n=0)),
    _bad("n=5", wan_body(n=5)),
    _bad("n for qwen-image-edit", qwen_body(n=2)),
    _bad("an http callback_url", wan_body(callback_url="http://example.com/hook")),
    _bad("a callback_url of 2049 characters", wan_body(callback_url="https://example.com/" + "a" * 2029)),
    _bad("an unknown model", wan_body(model="wan2.5-no-such-model")),
    Probe(
        "answers 404 (or 400) for an unknown task id",
        "GET",
        "/v1/tasks/task-unified-0-no-such-task",
        None,
        "key",
        frozenset({400, 404}),
    ),
]


def describe(plan: list[Probe], base_url: str) -> str:
    """The plan, one line per request, without the key."""
    lines = [f"The live probe sends {len(plan)} requests to {base_url}; each must be refused (no task, no credit):"]
    for number, probe in enumerate(plan, 1):
        auth = {"key": "with your key", "none": "without a key", "wrong": "with a wrong key"}[probe.auth]
        allowed = "/".join(str(code) for code in sorted(probe.expect))
        lines.append(f"  {number:2}. {probe.method} {probe.path} {auth}: {probe.name} (expects {allowed})")
    lines.append("Then, on the file host (no credit; nothing may be stored):")
    lines += [f"  {number:2}. {text}" for number, text in enumerate(FILE_PROBES, len(plan) + 1)]
    return "\n".join(lines)


def run(plan: list[Probe], base_url: str, key: str, send: Callable[..., httpx.Response] | None = None) -> list[str]:
    """Send the plan; return the failures (empty when the API kept its contract)."""
    failures = []
    with httpx.Client(base_url=base_url, timeout=30) as client:
        sender = send or client.request
        for probe in plan:
            headers = {"Authorization": f"Bearer {key if probe.auth == 'key' else 'sk-evo-wrong-probe-key'}"}
            if probe.auth == "none":
                headers = {}
            response = sender(probe.method, probe.path, json=probe.body, headers=headers)
            problem = _judge(probe, response)
            print(f"{'ok  ' if problem is None else 'FAIL'} {probe.name}: HTTP {response.status_code}")
            if problem is not None:
                failures.append(f"{probe.name}: {problem}")
            if response.is_success:
                print("A task may have been created; the probe stops here.", file=sys.stderr)
                break
    return failures


def _judge(probe: Probe, response: httpx.Response) -> str | None:
    if response.status_code not in probe.expect:
        task_id = _task_id(response)
        extra = f" (task {task_id} was created)" if task_id else ""
        return f"expected HTTP {sorted(probe.expect)}, got {response.status_code}{extra}"
    try:
        body = response.json()
    except ValueError:
        return "the error body is not JSON"
    errors = [error.message for error in schema_validator("ErrorResponse").iter_errors(body)]
    return f"the error body breaks the spec: {errors[0]}" if errors else None


def _task_id(response: httpx.Response) -> str | None:
    try:
        body = response.json()
    except ValueError:
        return None
    return body.get("id") if isinstance(body, dict) else None


def check_task(base_url: str, key: str, task_id: str, send: Callable[..., httpx.Response] | None = None) -> list[str]:
    """Read one existing task (no credit) and check its body against the spec; return the failures."""
    with httpx.Client(base_url=base_url, timeout=30) as client:
        response = (send or client.request)("GET", f"/v1/tasks/{task_id}", headers={"Authorization": f"Bearer {key}"})
    if response.status_code != 200:
        return [f"reading task {task_id}: expected HTTP 200, got {response.status_code}"]
    try:
        body = response.json()
    except ValueError:
        return [f"reading task {task_id}: the body is not JSON"]
    failures = [f"task {task_id} breaks the spec: {error.message[:300]}" for error in _task_errors(body)]
    if isinstance(body, dict) and body.get("id") != task_id:
        failures.append(f"reading task {task_id} answered a body whose id is {body.get('id')!r}")
    return failures


def _task_errors(body: Any) -> list[Any]:
    return list(schema_validator("Task").iter_errors(body))


def files_base_url(base_url: str) -> str:
    """The file host to probe: ``EVOLINK_FILES_BASE_URL``, else EvoLink's.

    When the API is on loopback (a local fake), the API's own origin: the fake serves both, as the
    client assumes too.
    """
    chosen = os.environ.get("EVOLINK_FILES_BASE_URL", "").strip()
    if chosen:
        return chosen
    return base_url if is_loopback_host(httpx.URL(base_url).host) else DEFAULT_FILES_BASE_URL


def run_live(base_url: str, key: str, task_id: str | None = None) -> tuple[list[str], list[str]]:
    """Run every live check; return ``(failures, warnings)``."""
    failures = run(PLAN, base_url, key)
    lines, file_failures = check_file_host(files_base_url(base_url), key)
    print("\n".join(lines))
    failures += [f"file host: {failure}" for failure in file_failures]
    findings = check_catalog(base_url)
    for finding in findings:
        print(f"{_MARKS[finding.level]} catalog: {finding}")
    failures += [f"catalog: {finding}" for finding in findings if finding.level == "failure"]
    warnings = [f"catalog: {finding}" for finding in findings if finding.level == "warning"]
    if task_id is not None:
        task_failures = check_task(base_url, key, task_id)
        print(f"{'ok  ' if not task_failures else 'FAIL'} task {task_id} read and checked against the spec")
        failures += task_failures
    return [_redact(text, key) for text in failures], warnings


_MARKS: dict[str, str] = {"ok": "ok  ", "warning": "WARN", "failure": "FAIL"}


def _redact(text: str, key: str) -> str:
    return text.replace(key, "<redacted>") if key else text


def main(argv: list[str] | None = None) -> int:
    """Print the plan; send it only with --live and EVOLINK_API_KEY."""
    parser = argparse.ArgumentParser(prog="contract-check --live", description=__doc__.splitlines()[0])
    parser.add_argument("--live", action="store_true", help="really send the requests (needs EVOLINK_API_KEY)")
    parser.add_argument("--base-url", default=os.environ.get("EVOLINK_BASE_URL") or DEFAULT_BASE_URL)
    parser.add_argument("--task-id", help="also read this existing task and check it against the spec")
    options = parser.parse_args(argv)
    return probe(live=options.live, base_url=options.base_url, task_id=options.task_id)


def probe(*, live: bool, base_url: str, task_id: str | None) -> int:
    """What ``contract-check --live`` does: describe the plan, then send it if a key is set."""
    print(describe(PLAN, base_url))
    key = os.environ.get("EVOLINK_API_KEY", "").strip()
    if not live or not key:
        missing = [what for what, present in (("--live", live), ("EVOLINK_API_KEY", bool(key))) if not present]
        print(f"\nNot sent: the live probe needs {' and '.join(missing)}.", file=sys.stderr)
        return 2
    failures, warnings = run_live(base_url, key, task_id)
    sent = len(PLAN) + 3  # and the file host's quota (twice) and its upload
    print(json.dumps({"sent": sent, "failures": failures, "warnings": warnings}, indent=2))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
