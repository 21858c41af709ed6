"""Prove the test suite has teeth: plant one bug at a time in a scratch copy and check it is caught.

    scripts/plant-bugs            # every bug; prints a table; exits 1 if any bug goes uncaught
    scripts/plant-bugs surrogate  # only the bugs whose names contain "surrogate"

Each bug is a textual change to one file (and, where the spec changes, a regeneration). The suite
(the testpaths: tests/, contract_tests/ and the contract suite in the package; ci profile) runs
against the scratch copy with -x; a bug is caught when it fails. Nothing in the working tree is touched.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Bug:
    """One planted bug: replace ``old`` by ``new`` in ``path``."""

    name: str
    path: str
    old: str
    new: str
    regenerate: bool = False


BUGS = [
    Bug("wan image limit off by one", "wrapper/evolink_images/_rules.py", "image_count=(1, 2)", "image_count=(1, 3)"),
    Bug("prompt limit off by one", "wrapper/evolink_images/_rules.py", "prompt_length: tuple[int, int] = (1, 2000)",
        "prompt_length: tuple[int, int] = (1, 2001)"),
    Bug("cancelled treated as still running", "wrapper/evolink_images/_task.py",
        'TERMINAL_STATUSES = frozenset({"completed", "failed", "cancelled"})',
        'TERMINAL_STATUSES = frozenset({"completed", "failed"})'),
    Bug("a POST retried after a 500", "wrapper/evolink_images/_retry.py",
        "_POST_RETRY_STATUSES = frozenset({429, 503})", "_POST_RETRY_STATUSES = frozenset({429, 500, 503})"),
    Bug("a POST retried after a read timeout", "wrapper/evolink_images/_retry.py",
        "_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)",
        "_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.ReadTimeout)"),
    Bug("an unknown status crashing the parser", "openapi/evolink-images.yaml",
        '            - $ref: "#/components/schemas/KnownTaskStatus"\n            - type: string',
        '            - $ref: "#/components/schemas/KnownTaskStatus"', regenerate=True),
    Bug("the spec and the validation table disagreeing", "openapi/evolink-images.yaml",
        "          minItems: 1\n          maxItems: 3", "          minItems: 1\n          maxItems: 4"),
    Bug("a 429 during polling ending the wait", "wrapper/evolink_images/_polling.py",
        "(error.status_code == 429 or error.status_code >= 500)", "error.status_code >= 500"),
    Bug("the wait outliving its deadline", "wrapper/evolink_images/_polling.py",
        "room = deadline - reserve - now", "room = deadline + 30 - reserve - now"),
    Bug("the key sent to any host", "wrapper/evolink_images/_wire/credentials.py",
        "if (url.scheme, url.host, url.port) not in self._origins:", "if False:"),
    Bug("a private callback host allowed", "wrapper/evolink_images/_addresses.py",
        "if not ip.is_global or ip.is_multicast:", "if ip.is_multicast:"),
    Bug("extra_body silently dropped", "wrapper/evolink_images/_requests.py",
        "            return {**super().to_dict(), **self.extra}\n\n    class QwenBody",
        "            return super().to_dict()\n\n    class QwenBody"),
    Bug("a partial download left behind", "wrapper/evolink_images/_download.py",
        "            self._temp.unlink(missing_ok=True)",
        "            _ = kind and os.replace(self._temp, self._plan.path(self._index, '.png'))"),
    Bug("a caller's auth and redirects applied", "wrapper/evolink_images/_client.py",
        "self._client.send(request, stream=True, auth=NO_AUTH, follow_redirects=False)",
        "self._client.send(request, stream=True)"),
    Bug("a redirect to an internal host followed", "wrapper/evolink_images/_fetch.py",
        "        problem = rule.problem(url)\n", "        problem = rule.problem(url) if hop == 0 else None\n"),
    Bug("the fake accepting requests without a key", "wrapper/evolink_images/testing/fake.py",
        'if headers.get("authorization") == f"Bearer {self.api_key}":', "if True:"),
    Bug("the API key in a repr", "wrapper/evolink_images/_wire/credentials.py",
        '        return "<redacted>"\n\n    __str__', "        return self._value\n\n    __str__"),
    Bug("a lone surrogate let through to the wire", "wrapper/evolink_images/_rules.py",
        "    if not _utf8(prompt):", "    if False:"),
    Bug("the API key in an error message", "wrapper/evolink_images/_wire/redaction.py",
        "return text.replace(self._key, MARK) if self._key and self._key in text else text", "return text"),
    Bug("the key sent to the host that serves uploads", "wrapper/evolink_images/_config.py",
        "Credentials(self.api_key, self.base_url, self.files_base_url)",
        'Credentials(self.api_key, self.base_url, httpx.URL("https://files.evolink.ai"))'),
    Bug("an upload sent before the request is checked", "wrapper/evolink_images/_calls.py",
        "    if violations:\n        raise RequestValidationError(violations)\n    if idempotency_key is None:",
        "    if idempotency_key is None:"),
    Bug("a file edited after its check uploaded all the same", "wrapper/evolink_images/_local_images.py",
        "        if read != self.size or digest.hexdigest() != self.sha256:", "        if read > self.size + 1:"),
    Bug("the same picture uploaded again", "wrapper/evolink_images/_file_host.py",
        "        return self.expires_at - (now or _now()) >= REUSE_MARGIN",
        "        return False"),
    Bug("success false taken for a stored file", "wrapper/evolink_images/_file_host.py",
        "        if body[\"success\"] is False:", "        if False:"),
]  # fmt: skip


def plant(bug: Bug, scratch: Path) -> None:
    """Copy the project to ``scratch`` and apply ``bug`` there."""
    shutil.copytree(
        ROOT, scratch, ignore=shutil.ignore_patterns(".venv", ".git", "*_cache", ".hypothesis", "__pycache__")
    )
    target = scratch / bug.path
    text = target.read_text(encoding="utf-8")
    if text.count(bug.old) != 1 and bug.old != bug.new:
        raise SystemExit(f"{bug.name}: the text to replace is not in {bug.path} exactly once; update the bug list")
    target.write_text(text.replace(bug.old, bug.new), encoding="utf-8")
    if bug.regenerate:
        subprocess.run([str(scratch / "scripts" / "regenerate")], check=True, capture_output=True)


def caught(scratch: Path) -> tuple[bool, str]:
    """Run the suite on ``scratch``; return whether it failed, and the first failing test."""
    env = {**os.environ, "PYTHONPATH": f"{scratch / 'wrapper'}{os.pathsep}{scratch / 'generated'}",
           "HYPOTHESIS_PROFILE": "ci"}  # fmt: skip
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider"],  # the testpaths
        cwd=scratch,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    first = next((line for line in result.stdout.splitlines() if line.startswith("FAILED")), "")
    return result.returncode != 0, first.removeprefix("FAILED ").split(" - ")[0]


def main(names: list[str]) -> int:
    """Plant every bug (or those whose names contain one of ``names``); print what caught each."""
    chosen = [bug for bug in BUGS if not names or any(name in bug.name for name in names)]
    with tempfile.TemporaryDirectory() as temp:
        scratch = Path(temp) / "project"
        plant(Bug("no bug (baseline)", "README.md", "# evolink-images", "# evolink-images"), scratch)
        failed, test = caught(scratch)
    if failed:
        print(f"The unmodified copy already fails ({test}): no verdict would mean anything.")
        return 2
    missed = 0
    print(f"{'bug':48} {'caught':7} {'secs':>5}  by")
    for bug in chosen:
        with tempfile.TemporaryDirectory() as temp:
            scratch = Path(temp) / "project"
            start = time.monotonic()
            plant(bug, scratch)
            failed, test = caught(scratch)
        missed += not failed
        print(f"{bug.name:48} {'yes' if failed else 'NO':7} {time.monotonic() - start:5.1f}  {test}")
    print(f"\n{len(chosen) - missed} of {len(chosen)} planted bugs caught.")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
