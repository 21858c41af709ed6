"""The opt-in live contract probe: zero-credit requests to the real API, checked against the spec.

Every request in the plan must be refused before any task exists (missing or wrong key, each
request constraint violated in turn, an unknown task id), so none can be billed. Each answer's
status and error body are checked against what the spec promises. If the API ever accepts one,
that is a contract break: the probe stops there, at most one task created, and prints its id.

    python -m contract_tests.live_probe            # prints the plan and refuses to send
    python -m contract_tests.live_probe --live     # sends it, with EVOLINK_API_KEY
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

from evolink_images.testing.payloads import qwen_body, wan_body
from evolink_images.testing.spec import schema_validator

DEFAULT_BASE_URL = "https://api.evolink.ai"
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


def main(argv: list[str] | None = None) -> int:
    """Print the plan; send it only with --live and EVOLINK_API_KEY."""
    parser = argparse.ArgumentParser(prog="contract-check --live", description=__doc__.splitlines()[0])
    parser.add_argument("--live", action="store_true", help="really send the requests (needs EVOLINK_API_KEY)")
    parser.add_argument("--base-url", default=os.environ.get("EVOLINK_BASE_URL", DEFAULT_BASE_URL))
    options = parser.parse_args(argv)
    print(describe(PLAN, options.base_url))
    key = os.environ.get("EVOLINK_API_KEY", "")
    if not options.live or not key:
        missing = [what for what, present in (("--live", options.live), ("EVOLINK_API_KEY", bool(key))) if not present]
        print(f"\nNot sent: the live probe needs {' and '.join(missing)}.", file=sys.stderr)
        return 2
    failures = run(PLAN, options.base_url, key)
    print(json.dumps({"sent": len(PLAN), "failures": failures}, indent=2))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
