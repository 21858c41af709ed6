"""The fake_evolink fixture importing teams get from the pytest plugin entry point."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from evolink_images import Client, QwenImageEdit
from evolink_images.testing.fake import FakeEvoLink


def test_the_plugin_is_registered_through_its_entry_point(pytestconfig: pytest.Config) -> None:
    assert pytestconfig.pluginmanager.hasplugin("evolink_images")


def test_code_that_builds_its_own_client_reaches_the_fake(fake_evolink: FakeEvoLink) -> None:
    with Client() as client:  # the key comes from EVOLINK_API_KEY, set by the fixture
        task = client.submit(QwenImageEdit("Add a hat", ["https://example.com/cat.png"]))
        assert client.get_task(task.id).status == "pending"
    assert fake_evolink.created == 1


def test_the_fixtures_client_waits_on_the_fakes_clock(fake_evolink: FakeEvoLink) -> None:
    client = fake_evolink.client()
    task = client.run(QwenImageEdit("Add a hat", ["https://example.com/cat.png"]))
    assert task.is_completed
    assert fake_evolink.auth_sent_to_files == 0


def test_the_readme_fixture_example_passes_as_a_third_partys_test(pytester: pytest.Pytester) -> None:
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    section = readme.split("### In your own tests", 1)[1]
    example = re.findall(r"```python\n(.*?)```", section, flags=re.S)[0]
    pytester.makepyfile(test_readme_example=example)
    result = pytester.runpytest_subprocess("-q", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)
