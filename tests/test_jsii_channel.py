"""The direct jsii channel (constructs_lib/jsii_channel): jsii's kernel on Python's pipes, no relay process."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import constructs_lib

CHANNEL = Path(constructs_lib.__file__).parent / "jsii_channel"
NODE = os.environ["JSII_NODE"]


def _node(script: str, stdin: bytes = b"") -> subprocess.CompletedProcess:
    return subprocess.run([NODE, "--require", str(CHANNEL / "direct_io.js"), "-e", script], input=stdin,
                          capture_output=True, timeout=30, check=True)


def _envelopes(stderr: bytes) -> list[tuple[str, bytes]]:
    import base64

    return [(key, base64.b64decode(value)) for line in stderr.splitlines() for key, value in json.loads(line).items()]


def test_the_kernel_channel_fd_3_is_stdin_and_stdout():
    done = _node("const fs = require('fs'); const b = Buffer.alloc(64); const n = fs.readSync(3, b, 0, 64, null);"
                 "fs.writeSync(3, b, 0, n); fs.writeSync(3, '!\\n');", stdin=b'{"hello":1}\n')
    assert done.stdout == b'{"hello":1}\n!\n'
    assert done.stderr == b""


def test_console_output_never_reaches_the_channel():
    """Whatever JavaScript prints (console, process streams, raw fd 1/2 writes) leaves on stderr, wrapped the way
    jsii's relay wraps it, so the API channel on stdout only ever carries the kernel's messages."""
    done = _node("const fs = require('fs'); console.log('log'); console.error('error'); process.stdout.write('out');"
                 "fs.writeSync(1, Buffer.from('xxraw1yy'), 2, 4); fs.writeSync(2, 'raw2');"
                 "fs.writeSync(1, Buffer.from('..raw3'), {offset: 2}); process.stdout.write(fs.writeSync(2, 'né') + '');")
    assert done.stdout == b""
    assert _envelopes(done.stderr) == [("stdout", b"log\n"), ("stderr", b"error\n"), ("stdout", b"out"),
                                       ("stdout", b"raw1"), ("stderr", b"raw2"), ("stdout", b"raw3"),
                                       ("stderr", "né".encode()), ("stdout", b"3")]


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="reads the process tree from Linux's /proc")
def test_python_talks_to_the_kernel_without_a_relay():
    """The process jsii started (runtime.js) hands Python's own pipes to the kernel: the kernel's stdin and stdout
    are the very pipes of its parent, not pipes to a relay."""
    import aws_cdk  # noqa: F401  (starts the kernel if no other test has)
    from jsii._runtime import kernel

    started = kernel.provider._process._process
    assert os.environ["JSII_RUNTIME"] == str(CHANNEL / "runtime.js")
    children = Path(f"/proc/{started.pid}/task/{started.pid}/children").read_text().split()
    assert len(children) == 1
    command = Path(f"/proc/{children[0]}/cmdline").read_bytes().split(b"\0")
    assert str(CHANNEL / "direct_io.js").encode() in command
    assert command[-2].endswith(b"/lib/program.js")
    for fd in (0, 1):
        assert os.readlink(f"/proc/{children[0]}/fd/{fd}") == os.readlink(f"/proc/{started.pid}/fd/{fd}")


def test_the_kernel_folder_is_removed_at_exit(tmp_path):
    script = ("import os, constructs_lib, aws_cdk as cdk; app = cdk.App(); cdk.Stack(app, 'S'); app.synth();"
              "print(sorted(os.listdir(os.environ['TMPDIR'])))")
    env = dict(os.environ, TMPDIR=str(tmp_path), CDK_OUTDIR=str(tmp_path / "out"))
    env.pop("JSII_RUNTIME")
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120,
                          check=True)
    assert "jsii-direct-" in done.stdout  # in use while the kernel runs
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith("jsii-direct-")] == []


@pytest.mark.parametrize("environ, runtimes", [
    ({"JSII_RUNTIME": "/elsewhere/jsii-runtime.js"}, ("1.142.",)),
    ({"MLOPS_JSII_RELAY": "1"}, ("1.142.",)),
    ({}, ("9.9.",)),
], ids=["JSII_RUNTIME set", "MLOPS_JSII_RELAY set", "another jsii kernel"])
def test_jsii_relay_is_kept_when_asked_or_for_another_kernel(monkeypatch, environ, runtimes):
    """A JSII_RUNTIME the user chose wins, MLOPS_JSII_RELAY keeps jsii's relay, and so does a jsii kernel the
    channel was not written for."""
    for name in ("JSII_RUNTIME", "JSII_DIRECT_EMBEDDED", "MLOPS_JSII_RELAY"):
        monkeypatch.delenv(name, raising=False)
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(constructs_lib, "DIRECT_CHANNEL_RUNTIMES", runtimes)
    constructs_lib._direct_jsii_channel()
    assert os.environ.get("JSII_RUNTIME") == environ.get("JSII_RUNTIME")
    assert "JSII_DIRECT_EMBEDDED" not in os.environ


def test_the_direct_channel_is_chosen_for_this_jsii(monkeypatch):
    for name in ("JSII_RUNTIME", "JSII_DIRECT_EMBEDDED", "MLOPS_JSII_RELAY"):
        monkeypatch.delenv(name, raising=False)
    constructs_lib._direct_jsii_channel()
    assert os.environ["JSII_RUNTIME"] == str(CHANNEL / "runtime.js")
    assert Path(os.environ["JSII_DIRECT_EMBEDDED"], "lib__program.js").is_file()
