"""The README's examples run: its Python blocks execute, and its two commands are the ones CI runs."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
EXAMPLES = re.findall(r"<!-- readme-example: ([\w-]+) -->\n```python\n(.*?)```", README, re.S)


@pytest.mark.parametrize("name, code", EXAMPLES, ids=[name for name, _ in EXAMPLES])
def test_python_examples_run(name, code, tmp_path, monkeypatch):
    monkeypatch.setenv("CDK_OUTDIR", str(tmp_path))
    monkeypatch.chdir(ROOT)  # as a user runs them: from the repository root
    exec(compile(code, f"README:{name}", "exec"), {})


def test_readme_commands():
    assert EXAMPLES, "no runnable examples found"
    ci = (ROOT / ".ci" / "run").read_text()
    test_command = re.search(r"TEST_COMMAND='(.+)'", ci).group(1)
    assert f"\n{test_command}\n" in README
    assert "pip install -r requirements.txt && npx --yes aws-cdk@2." in README
