"""Config edits under faults: line endings kept, a file-size limit or a full disk leaves the file as it was,
two editors at once both land (the edit lock serialises them)."""

from __future__ import annotations

import resource
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from constructs_lib.config import load_config
from constructs_lib.ops.base import OpsError
from constructs_lib.ops.files import read, write_atomic

EXAMPLE = Path(__file__).resolve().parents[2] / "config" / "platform.yaml"


@pytest.fixture
def platform(tmp_path):
    path = tmp_path / "config" / "platform.yaml"
    path.parent.mkdir()
    shutil.copy(EXAMPLE, path)
    shutil.copytree(EXAMPLE.parent / "models" / "churn-predictor", path.parent / "models" / "churn-predictor")
    return path


def mlops(*argv: str, limit_bytes: int | None = None) -> subprocess.Popen:
    """``mlops ARGS`` in its own process (optionally under a file-size limit, as `ulimit -f` sets it)."""
    def limit() -> None:
        if limit_bytes is not None:
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # get EFBIG from write(), as a shell with ulimit -f
            resource.setrlimit(resource.RLIMIT_FSIZE, (limit_bytes, limit_bytes))
    return subprocess.Popen([sys.executable, "-m", "constructs_lib.ops.cli", *argv], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, preexec_fn=limit)


def test_crlf_files_keep_their_line_endings(platform, capsys):
    from constructs_lib.ops.cli import main

    platform.write_bytes(platform.read_bytes().replace(b"\n", b"\r\n"))
    assert main(["new-model", "fraud-detector", "--config", str(platform)]) == 0, capsys.readouterr().err
    data = platform.read_bytes()
    assert data.count(b"\r\n") == data.count(b"\n")  # every line, the new ones included
    assert [m.name for m in load_config(platform).models] == ["churn-predictor", "churn-scorer", "churn-nightly",
                                                              "churn-lite", "churn-segment", "churn-regional", "churn-raw",
                                                              "churn-edge", "fraud-detector"]


def test_a_file_size_limit_leaves_the_config_as_it_was(platform):
    """The write fails (EFBIG) after the new text is built: the original file, byte for byte, and no model
    folder or temporary file is left behind; one line, exit 2."""
    # A config larger than any template file, so that the config's own write is what the limit stops.
    platform.write_text(platform.read_text() + "# " + "padding " * 1000 + "\n")
    before = platform.read_bytes()
    process = mlops("new-model", "fraud-detector", "--config", str(platform), limit_bytes=len(before) + 100)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 2, err
    assert err.startswith(f"error: {platform}: cannot write the file (File too large); it is unchanged; nothing "
                          "changed (the model folder was removed again)")
    assert err.count("\n") == 1
    assert platform.read_bytes() == before
    assert sorted(p.name for p in platform.parent.iterdir()) == ["models", "platform.yaml"]
    assert sorted(p.name for p in (platform.parent / "models").iterdir()) == ["churn-predictor"]


def test_two_editors_at_once_both_land(platform):
    first = mlops("new-model", "fraud-detector", "--config", str(platform))
    second = mlops("new-model", "upsell-model", "--config", str(platform))
    for process in (first, second):
        _, err = process.communicate(timeout=120)
        assert process.returncode == 0, err
    names = [m["name"] for m in yaml.safe_load(platform.read_text())["models"]]
    assert sorted(names) == ["churn-edge", "churn-lite", "churn-nightly", "churn-predictor", "churn-raw", "churn-regional", "churn-scorer", "churn-segment",
                             "fraud-detector", "upsell-model"]


def test_write_atomic_keeps_the_original_when_the_write_fails(tmp_path, monkeypatch):
    target = tmp_path / "file.yaml"
    target.write_bytes(b"\xef\xbb\xbfa: 1\r\nb: 2\r\n")
    kept = read(target)
    assert (kept.text, kept.newline, kept.encoding) == ("a: 1\nb: 2\n", "\r\n", "utf-8-sig")

    def full(*_args):
        raise OSError(28, "No space left on device")
    monkeypatch.setattr("os.fsync", full)
    with pytest.raises(OpsError) as error:
        write_atomic(target, "a: 3\n", like=kept)
    assert str(error.value) == f"{target}: cannot write the file (No space left on device); it is unchanged"
    assert target.read_bytes() == b"\xef\xbb\xbfa: 1\r\nb: 2\r\n"
    assert [p.name for p in tmp_path.iterdir()] == ["file.yaml"]  # no temporary sibling left
    monkeypatch.undo()
    write_atomic(target, "a: 3\n", like=kept)
    assert target.read_bytes() == b"\xef\xbb\xbfa: 3\r\n"


def test_a_file_size_limit_on_the_template_copy_is_one_line_too(platform):
    before = platform.read_bytes()
    process = mlops("new-model", "fraud-detector", "--config", str(platform), limit_bytes=1000)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 2, err
    assert err.startswith(f"error: {platform.parent / 'models' / 'fraud-detector'}: cannot create the model folder")
    assert err.rstrip().endswith("nothing changed") and err.count("\n") == 1
    assert platform.read_bytes() == before
    assert sorted(p.name for p in (platform.parent / "models").iterdir()) == ["churn-predictor"]
