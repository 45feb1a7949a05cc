"""Every `avfh ...` command line in the README's bash blocks runs as written (reproduce under --dry-run)."""

import re
import shlex
from pathlib import Path

import pytest

from avfh_core.cli import build_parser, main

README = Path(__file__).resolve().parents[1] / "README.md"


def readme_commands() -> list[str]:
    """The `avfh` / `.venv/bin/avfh` command lines of README.md's ```bash blocks (also after `# or:`)."""
    blocks = re.findall(r"^```bash\n(.*?)^```", README.read_text(), flags=re.S | re.M)
    commands = []
    for block in blocks:
        for line in block.splitlines():
            m = re.search(r"(?:^|\s)(?:\.venv/bin/)?avfh\s(.*)$", line)
            if not m:
                continue
            text = m.group(1)
            head, _, comment = text.partition("  #")  # a trailing comment after two spaces
            commands.append(head.strip() if not head.lstrip().startswith("#") else comment)
    return commands


def test_the_readme_shows_commands():
    cmds = readme_commands()
    assert any(c.startswith("reproduce --notebook vfhgan/05_training --set steps=200") for c in cmds), cmds
    assert any(c.startswith("info") for c in cmds) and any(c.startswith("dashboard") for c in cmds)
    assert len(cmds) >= 9


@pytest.mark.parametrize("command", readme_commands())
def test_readme_command_runs(command, tmp_path, monkeypatch, capsys):
    argv = shlex.split(command.replace("[", "").replace("]", ""))  # `[--run-dir runs/<run-id>]`: optional part
    if argv[0] == "reproduce":
        runs = tmp_path / "runs"
        monkeypatch.setattr("avfh_core.reproduce.batch.default_runs_dir", lambda: runs)
        code = main([*argv, "--dry-run"])
        captured = capsys.readouterr()
        assert code == 0, captured.err
        assert "dry run (nothing executed)" in captured.out
        assert not runs.exists()  # nothing written
    elif argv[0] == "dashboard":  # serves until stopped: the command line must parse
        args = build_parser().parse_args(argv)
        assert args.func.__name__ == "cmd_dashboard"
    else:
        assert main(argv) == 0
