"""A canary secret through every path a value can leave a run by.

A workflow reads the secret ``CANARY_TOKEN`` (and the ``GITHUB_TOKEN`` nbflow itself
holds) and leaks it every way a notebook can: printed (raw, URL-encoded, base64,
inside a ``Basic user:TOKEN`` credential), on stderr, in rich output (HTML, JSON,
Markdown, an image's bytes, alt text and text form), as the cell's result, through
``logging`` and ``warnings``, recorded with ``nbflow.record`` (as value and as key),
passed back in with ``-p``, in an exception message, in a traceback (a file name
and a chained exception), and in the last words of a kernel that dies. The run is
made through the command line with ``-vv --log-output``, so every log line is
printed, and it fails, so a notification is sent to a local receiver, and another
to an unreachable URL that holds the secret (its failure is logged).

Then the canary must occur nowhere: not in the run folder (any file), not on
stdout or stderr, not in what the receiver got, not in the scratch folder, nor in
``nbflow show`` / ``nbflow runs --json``. :func:`helpers.assert_no_canary` looks for
the raw value, its URL encodings and its base64 forms at every alignment.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from nbflow.cli import main
from nbflow.errors import ManifestError
from nbflow.manifest.load import load_manifest
from tests.helpers import (
    assert_no_canary,
    find_canary,
    injected_parameters,
    latest_run,
    wait_for_no_kernel_processes,
    write_manifest,
    write_notebook,
)
from tests.reliability.conftest import Receiver

CANARY = "Cn4ry+T0k/n@x9Q=zz7W"  # characters that URL encoding changes
GH_CANARY = "ghs_CanaryGitHubT0ken0000000000000000"
GH2_CANARY = "ghp_CanaryGhT0kenVariab1e000000000000"  # GH_TOKEN, the other token nbflow holds
ESC_CANARY = "Esc'\u00e4\\pe\"Q7xw"  # characters JSON, repr and bytes repr escape
PIN_CANARY = "73914285"  # a numeric secret, passed and recorded as a number
CANARIES = (CANARY, GH_CANARY, GH2_CANARY, ESC_CANARY, PIN_CANARY)

READ = (
    "import base64, logging, os, sys, urllib.parse, warnings\n"
    "import nbflow\n"
    "s = nbflow.secret('CANARY_TOKEN')\n"
    "gh = os.environ.get('GITHUB_TOKEN') or token or 'unset'"
)
ESCAPED = (
    "import json\n"
    "e, pin = nbflow.secret('ESC_TOKEN'), nbflow.secret('PIN_TOKEN')\n"
    "print(json.dumps({'pw': e}), json.dumps({'pw': e}, ensure_ascii=False))\n"
    "print({'pw': e}, [e.encode()], ascii(e))\n"
    "print('path-quoted', urllib.parse.quote(s), urllib.parse.quote(e))\n"
    "nbflow.record('pin', int(pin))\n"
    "nbflow.record('pins', {'n': [int(pin), float(pin)], 'limit': limit})\n"
    "nbflow.record('kernel_sees_gh_token', bool(os.environ.get('GH_TOKEN')))\n"
    "display(JSON({'pin': int(pin)}))\n"
    "os.makedirs('out', exist_ok=True)\n"
    "open('out/leak.json', 'w').write(json.dumps({'pw': e}))\n"
    "int(pin)"
)
PRINT = (
    "print(s)\n"
    "print('quoted', urllib.parse.quote(s, safe=''), urllib.parse.quote_plus(s))\n"
    "print('b64', base64.b64encode(s.encode()).decode(), base64.urlsafe_b64encode(s.encode()))\n"
    "print('Authorization: Basic', base64.b64encode(b'user:' + s.encode()).decode())\n"
    "print('github', gh, base64.b64encode(b'x-access-token:' + gh.encode()).decode())\n"
    "print('https://x-access-token:' + gh + '@github.com/o/r.git')\n"
    "print('params', api_key, token)\n"
    "sys.stderr.write('stderr ' + s + '\\n')"
)
RICH = (
    "import struct, zlib\n"
    "from IPython.display import HTML, JSON, Markdown, display\n"
    "def chunk(kind, data):\n"
    "    body = kind + data\n"
    "    return struct.pack('>I', len(data)) + body + struct.pack('>I', zlib.crc32(body))\n"
    "header = struct.pack('>IIBBBBB', 1, 1, 8, 0, 0, 0, 0)\n"
    "png = (b'\\x89PNG\\r\\n\\x1a\\n' + chunk(b'IHDR', header)\n"
    "       + chunk(b'tEXt', b'Comment\\x00' + s.encode())\n"
    "       + chunk(b'IDAT', zlib.compress(b'\\x00\\x00')) + chunk(b'IEND', b''))\n"
    "display(HTML(f'<b title=\"{s}\">{s}</b>'))\n"
    "display(JSON({'token': s, s: [s]}))\n"
    "display(Markdown(f'`{s}`'))\n"
    "display({'image/png': base64.b64encode(png).decode(), 'text/plain': f'<chart {s}>'},\n"
    "        raw=True, metadata={'image/png': {'alt': s}})\n"
    "s"
)
RECORD_AND_LOG = (
    "nbflow.record('token', s)\n"
    "nbflow.record('nested', {'k': [s, {s: gh}]})\n"
    "nbflow.record('kernel_sees_github_token', bool(os.environ.get('GITHUB_TOKEN')))\n"
    "logging.getLogger('leak').warning('token %s', s)\n"
    "warnings.warn(f'careful with {s}')\n"
    "print({k: v for k, v in os.environ.items() if 'TOKEN' in k})"
)
TRACEBACK = (
    "code = compile('def check():\\n    raise ValueError(s)\\ncheck()', f'<{s}>', 'exec')\n"
    "try:\n"
    "    exec(code)\n"
    "except ValueError as exc:\n"
    "    raise RuntimeError(f'bad token {s} / {gh}') from exc"
)
DIE = "os.write(2, f'dying with {s} {gh}\\n'.encode())\nos._exit(3)"


def leaky_workflow(root: Path, down_url: str) -> Path:
    folder = root / "workflows" / "leak"
    write_notebook(
        folder / "show.ipynb",
        "api_key = ''\ntoken = ''\nlimit = 0",
        [READ, PRINT, RICH, RECORD_AND_LOG, ESCAPED],
    )
    write_notebook(folder / "fails.ipynb", "api_key = ''\ntoken = ''", [READ, TRACEBACK])
    write_notebook(folder / "dies.ipynb", "token = ''", [READ, DIE])
    return write_manifest(
        folder,
        f"""
        name: leak
        parameters:
          api_key: {{type: str, default: none}}
          limit: {{type: int, default: 0}}
        secrets: [CANARY_TOKEN, ESC_TOKEN, PIN_TOKEN]
        report: {{html: true}}
        steps:
          - {{id: show, notebook: show.ipynb, produces: ["out/*"]}}
          - {{id: fails, notebook: fails.ipynb, needs: []}}
          - {{id: dies, notebook: dies.ipynb, needs: []}}
        notify:
          on_failure:
            - "${{{{ env.HOOK }}}}"
            - "{down_url}/${{{{ secrets.CANARY_TOKEN }}}}"
        """,
    )


def unused_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def nbflow(args: list[str], root: Path, env: dict[str, str]) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "nbflow", *args],
        cwd=root,
        env=env,
        capture_output=True,
        timeout=120,
    )


def test_canary_secret_reaches_no_output(project: Path, receiver: Receiver, tmp_path: Path) -> None:
    leaky_workflow(project, f"json://127.0.0.1:{unused_port()}")
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    marker = f"canary-{tmp_path.name}"
    env = {
        **canary_environment(),
        "HOOK": receiver.url(),
        "TMPDIR": str(scratch),
        "NBFLOW_TEST_MARKER": marker,
    }
    for name in ("CI", "GITHUB_ACTIONS", "GITHUB_STEP_SUMMARY"):
        env.pop(name, None)

    run = nbflow(
        [
            "-vv",
            "run",
            "leak",
            "--log-output",
            "--jobs",
            "3",
            "-p",
            f"api_key={CANARY}",
            "-p",
            f"limit={PIN_CANARY}",
            "-p",
            f"show.token={GH_CANARY}",
            "-p",
            f"fails.token={GH2_CANARY}",
            "-p",
            f"dies.token={GH_CANARY}",
        ],
        project,
        env,
    )

    assert run.returncode == 1, run.stderr.decode()
    run_dir, record = latest_run(project, "leak")
    show, fails, dies = record.steps
    # the leaks happened, and were redacted where they surfaced
    assert show.status.value == "succeeded"
    assert show.outputs == {
        "token": "***",
        "nested": {"k": ["***", {"***": "***"}]},
        "kernel_sees_github_token": False,
        "pin": "***",
        "pins": {"n": ["***", "***.0"], "limit": "***"},
        "kernel_sees_gh_token": False,
    }
    assert record.parameters == {"api_key": "***", "limit": "***"}
    assert show.parameters == {"api_key": "***", "limit": "***", "token": "***"}
    # an HTML copy of each notebook (report: {html: true}), checked below with the rest
    assert sorted(p.name for p in run_dir.glob("*.html")) == [
        "dies.html",
        "fails.html",
        "show.html",
    ]
    assert "***" in (run_dir / "show.html").read_text(encoding="utf-8")
    # still valid Python: the masked number is a string
    assert injected_parameters(run_dir / "show.ipynb") == (
        '# Parameters\napi_key = "***"\nlimit = "***"\ntoken = "***"\n'
    )
    streamed = run.stderr.decode()
    assert '{"pw": "***"} {"pw": "***"}' in streamed
    assert "{'pw': '***'} [b'***'] '***'" in streamed
    assert "path-quoted *** ***" in streamed
    assert fails.error is not None
    assert (fails.error.ename, fails.error.evalue) == ("RuntimeError", "bad token *** / ***")
    assert "<***>" in fails.error.traceback
    assert dies.error is not None and dies.error.ename == "DeadKernelError"
    assert "dying with *** ***" in dies.error.evalue
    assert b"dying with *** ***" in run.stderr  # streamed by --log-output? no: the error line
    assert len(receiver.requests) == 1
    assert b"bad token *** / ***" in receiver.requests[0]
    # ... and occur nowhere
    shown = main_output(project, ["show", record.run_id, "--json"], env)
    listed = main_output(project, ["runs", "--json"], env)
    for canary in CANARIES:
        assert_no_canary(project / "runs", canary)
        assert_no_canary(run.stdout, canary)
        assert_no_canary(run.stderr, canary)
        assert_no_canary(b"\n".join(receiver.requests), canary)
        assert_no_canary(scratch, canary)
        assert_no_canary(shown + listed, canary)
    assert wait_for_no_kernel_processes(marker=marker) == []


def push_leaky_workflow(git_repo: Path) -> None:
    """Write the leaky workflow into ``git_repo``, commit it and push it to origin."""
    leaky_workflow(git_repo, f"http://127.0.0.1:{unused_port()}")
    subprocess.run(["git", "add", "workflows"], cwd=git_repo, check=True)
    subprocess.run(["git", "commit", "-q", "-m", "leaky workflow"], cwd=git_repo, check=True)
    subprocess.run(["git", "push", "-q"], cwd=git_repo, check=True)


def history(repo: Path) -> bytes:
    """Every commit of every branch of ``repo``, messages and binary patches."""
    command = ["git", "log", "-p", "--all", "--format=%H%n%B", "--binary"]
    return subprocess.run(command, cwd=repo, capture_output=True, check=True).stdout


def canary_environment() -> dict[str, str]:
    """This process's environment with the canaries set as secrets and tokens."""
    return {
        **os.environ,
        "CANARY_TOKEN": CANARY,
        "ESC_TOKEN": ESC_CANARY,
        "PIN_TOKEN": PIN_CANARY,
        "GITHUB_TOKEN": GH_CANARY,
        "GH_TOKEN": GH2_CANARY,
    }


def main_output(root: Path, args: list[str], env: dict[str, str]) -> bytes:
    result = nbflow(args, root, env)
    assert result.returncode == 0, result.stderr.decode()
    return result.stdout + result.stderr


def test_canary_checker_finds_each_form() -> None:
    import base64
    from urllib.parse import quote

    assert find_canary(b"nothing here", CANARY) == []
    assert find_canary(CANARY, CANARY) == ["<data>: raw"]
    assert "<data>: url-encoded" in find_canary(quote(CANARY, safe=""), CANARY)
    for prefix in (b"", b"u", b"us", b"user:"):
        blob = base64.b64encode(prefix + CANARY.encode() + b"!")
        assert find_canary(blob, CANARY), prefix


@pytest.mark.parametrize("reference", ["secrets.CANARY_TOKEN", "env.CANARY_TOKEN"])
def test_a_secret_cannot_be_a_step_parameter(project: Path, reference: str) -> None:
    folder = project / "workflows" / "pass"
    write_notebook(folder / "use.ipynb", "token = ''", ["1"])
    path = write_manifest(
        folder,
        f"""
        name: pass
        secrets: [CANARY_TOKEN]
        steps:
          - id: use
            notebook: use.ipynb
            parameters: {{token: "prefix ${{{{ {reference} }}}}"}}
        """,
    )

    with pytest.raises(ManifestError) as exc:
        load_manifest(path)

    assert str(exc.value) == (
        f"{path}:6:25: steps[0] (use).parameters.token: ${{{{ {reference} }}}}: "
        "a secret is never written into a notebook; read it in the notebook with "
        'nbflow.secret("CANARY_TOKEN")'
    )


def test_a_secret_given_with_p_is_redacted(
    project: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = project / "workflows" / "given"
    write_notebook(folder / "use.ipynb", "token = ''\nother = ''", ["print(token, other)"])
    write_manifest(
        folder,
        """
        name: given
        parameters:
          token: {type: str, required: true}
        secrets: [CANARY_TOKEN]
        steps:
          - {id: use, notebook: use.ipynb}
        """,
    )
    monkeypatch.setenv("CANARY_TOKEN", CANARY)

    code = main(["run", "given", "-p", f"token={CANARY}", "-p", f"use.other={CANARY}"])

    assert code == 0
    run_dir, record = latest_run(project, "given")
    assert record.parameters == {"token": "***"}
    assert record.step("use").parameters == {"token": "***", "other": "***"}
    assert injected_parameters(run_dir / "use.ipynb") == (
        '# Parameters\ntoken = "***"\nother = "***"\n'
    )
    notebook = json.loads((run_dir / "use.ipynb").read_text(encoding="utf-8"))
    assert notebook["metadata"]["papermill"]["parameters"] == {"token": "***", "other": "***"}
    out, err = capsys.readouterr()
    assert_no_canary(project / "runs", CANARY)
    assert_no_canary(out + err, CANARY)


def test_a_secret_in_a_bad_p_value_is_not_echoed(
    project: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = project / "workflows" / "typed"
    write_notebook(folder / "use.ipynb", "limit = 0", ["1"])
    write_manifest(
        folder,
        """
        name: typed
        parameters:
          limit: {type: int, default: 1}
        secrets: [CANARY_TOKEN]
        steps:
          - {id: use, notebook: use.ipynb}
        """,
    )
    monkeypatch.setenv("CANARY_TOKEN", CANARY)

    code = main(["run", "typed", "-p", f"limit={CANARY}"])

    assert code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: -p limit=***: ")
    assert_no_canary(err, CANARY)


def test_canary_secret_reaches_no_commit(git_repo: Path, receiver: Receiver) -> None:
    """A leaky run committed and pushed: nothing in the history (messages, trees,
    blobs, on every branch, locally and in the remote) holds the secret."""
    push_leaky_workflow(git_repo)
    env = {**canary_environment(), "HOOK": receiver.url(), "NBFLOW_API_KEY": CANARY}
    for target in ("current", "runs-branch"):
        done = nbflow(
            [
                "run",
                "leak",
                "--log-output",
                *("-p", f"api_key={CANARY}", "-p", f"limit={PIN_CANARY}"),
                *("--commit", "--push", "--target", target),
            ],
            git_repo,
            env,
        )
        assert done.returncode == 1, done.stderr.decode()  # the leaky steps fail on purpose
        for canary in CANARIES:
            assert_no_canary(done.stdout + done.stderr, canary)
    origin = git_repo.parent / "origin.git"
    for repo in (git_repo, origin):
        log = history(repo)
        assert b"runs/leak/" in log  # both runs were committed there
        assert b"/show.html" in log  # with the notebooks' HTML copies
        for canary in CANARIES:
            assert_no_canary(log, canary)


def test_a_killed_run_leaves_its_unmasked_scratch_only_where_the_next_command_removes_it(
    git_repo: Path, tmp_path: Path
) -> None:
    """``kill -9`` of nbflow while a real kernel runs a notebook that printed the
    secret: the kernel's connection file is not left in TMPDIR; it stays in
    ``.git/nbflow/scratch`` until the next nbflow command. papermill's unmasked draft
    is written only when the notebook completes (engine/papermill_load.py), so the
    printed secret never reached a file."""
    folder = git_repo / "workflows" / "slow"
    write_notebook(
        folder / "wait.ipynb",
        None,
        [
            "import nbflow\nprint(nbflow.secret('CANARY_TOKEN'))",
            "import pathlib, time\npathlib.Path('printed').touch()\ntime.sleep(60)",
        ],
    )
    write_manifest(
        folder,
        "name: slow\nsecrets: [CANARY_TOKEN]\nsteps:\n  - {id: wait, notebook: wait.ipynb}\n",
    )
    tmp, scratch = tmp_path / "tmp", git_repo / ".git" / "nbflow" / "scratch"
    tmp.mkdir()
    marker = f"killed-{tmp_path.name}"
    env = {**canary_environment(), "TMPDIR": str(tmp), "NBFLOW_TEST_MARKER": marker}
    command = [sys.executable, "-m", "nbflow", "run", "slow"]
    with subprocess.Popen(command, cwd=git_repo, env=env, stderr=subprocess.PIPE) as process:
        for _ in range(1200):  # the cell after the one printing the secret started
            assert process.poll() is None, process.communicate()[1].decode()
            if (folder / "printed").exists():
                break
            time.sleep(0.1)
        assert (folder / "printed").exists()
        process.kill()
        _, stderr = process.communicate()
    assert wait_for_no_kernel_processes(marker=marker) == []
    assert sorted(p.name for p in tmp.rglob("*")) == []  # no draft, no connection file
    left = sorted(p.relative_to(scratch).parts[-1] for p in scratch.rglob("*") if p.is_file())
    assert {name.split("-")[0] for name in left} == {
        ".gitignore",
        str(process.pid),  # its lock
        "kernel",  # the connection file
        "source",  # the notebook papermill reads (engine/source.py): no secret in it
    }
    assert not find_canary(scratch, CANARY)  # no draft yet: the secret stayed in memory

    after = nbflow(["runs"], git_repo, env)

    assert after.returncode == 0, after.stderr.decode()
    assert sorted(p.name for p in scratch.iterdir()) == [".gitignore"]
    assert after.stderr.decode().startswith(
        "WARNING nbflow.engine.scratch: removed the scratch folder (unmasked notebooks) of "
        f"nbflow processes that did not end normally: {scratch / str(process.pid)}-"
    )
    status = subprocess.run(
        ["git", "status", "--porcelain", "--ignored"], cwd=git_repo, capture_output=True
    )
    assert status.stdout.decode().splitlines() == ["?? runs/", "?? workflows/"]
    for output in (git_repo, tmp, stderr, after.stdout + after.stderr):
        assert_no_canary(output, CANARY)


def test_canary_secret_reaches_no_piece(git_repo: Path, receiver: Receiver) -> None:
    """The leaky workflow run apart, a step per command, as the per-step GitHub layout
    does, then assembled, committed and pushed: no canary in any piece (uploaded as
    artifacts), output, run folder or history; the file ``show`` writes holding a
    secret fails it instead of travelling in its piece."""
    push_leaky_workflow(git_repo)
    env = {**canary_environment(), "HOOK": receiver.url()}
    pieces = git_repo.parent / "pieces"
    seed = pieces / "seed"
    outputs = [nbflow(["run", "leak", "--plan", "--outputs", str(seed)], git_repo, env)]
    for step in ("show", "fails", "dies"):
        outputs.append(
            nbflow(
                ["run", "leak", "--step", step, "--log-output", "--inputs", str(seed)]
                + ["--outputs", str(pieces / step)],
                git_repo,
                env,
            )
        )
    folders = [str(seed), *(str(pieces / s) for s in ("show", "fails", "dies"))]
    outputs.append(
        nbflow(["assemble", "leak", "--pieces", *folders, "--commit", "--push"], git_repo, env)
    )

    assert [o.returncode for o in outputs] == [0, 1, 1, 1, 1], outputs[-1].stderr.decode()
    assert (
        b"show: failed: SecretInProducedFile: produced file out/leak.json holds the "
        + (b"value of secret ESC_TOKEN")
        in outputs[1].stderr
    )
    assert not (pieces / "show" / "files").exists()
    assert (git_repo / "workflows" / "leak" / "out" / "leak.json").is_file()  # it was written
    histories = [history(repo) for repo in (git_repo, git_repo.parent / "origin.git")]
    assert all(b"runs/leak/" in h for h in histories)
    for canary in CANARIES:
        assert_no_canary(pieces, canary)
        assert_no_canary(git_repo / "runs", canary)
        assert_no_canary(b"".join(o.stdout + o.stderr for o in outputs), canary)
        assert_no_canary(b"\n".join(receiver.requests), canary)
        for log in histories:
            assert_no_canary(log, canary)
