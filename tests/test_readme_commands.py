"""Every command the README and docs/ show runs as written: each flag a
shell block passes to a `tools/*.py` script is in that tool's --help, and
every config path it names exists."""
import glob
import os.path as osp
import re
import shlex
import subprocess
import sys

from conftest import REPO_ROOT

DOCS = [osp.join(REPO_ROOT, 'README.md')] + sorted(
    glob.glob(osp.join(REPO_ROOT, 'docs', '**', '*.md'), recursive=True))


def shell_commands(text):
    """The commands of the ```bash / ```shell blocks (continuation lines
    joined, comments and the `$ ` prompt removed)."""
    commands = []
    for block in re.findall(r'```(?:bash|shell|sh)\n(.*?)```', text, re.S):
        joined = re.sub(r'\\\n\s*', ' ', block)
        for line in joined.splitlines():
            line = line.split(' #')[0].strip()
            if line.startswith('$ '):
                line = line[2:]
            if line and not line.startswith('#'):
                commands.append(line)
    return commands


def tool_calls(commands):
    """``[(tool, [flags], [config paths], command)]`` of the commands that
    run a ``tools/*.py`` script."""
    calls = []
    for command in commands:
        try:
            tokens = shlex.split(command)
        except ValueError:
            tokens = command.split()
        tools = [t for t in tokens if re.fullmatch(r'tools/[\w/]+\.py', t)]
        if not tools:
            continue
        flags = [t.split('=')[0] for t in tokens if re.match(r'--[a-z]', t)]
        configs = [
            t for t in tokens
            if re.fullmatch(r'configs/[\w./-]+\.py', t) and '*' not in t
        ]
        calls.append((tools[0], flags, configs, command))
    return calls


def test_readme_and_docs_commands_match_the_tools():
    helps, checked = {}, 0
    for path in DOCS:
        with open(path) as f:
            calls = tool_calls(shell_commands(f.read()))
        for tool, flags, configs, command in calls:
            where = f'{osp.relpath(path, REPO_ROOT)}: {command}'
            assert osp.isfile(osp.join(REPO_ROOT, tool)), where
            if tool not in helps:
                proc = subprocess.run([sys.executable, tool, '--help'],
                                      cwd=REPO_ROOT,
                                      capture_output=True,
                                      text=True)
                assert proc.returncode == 0, f'{tool} --help: {proc.stderr}'
                helps[tool] = proc.stdout
            for flag in flags:
                assert re.search(rf'{re.escape(flag)}\b', helps[tool]), \
                    f'{flag} is not an option of {tool} ({where})'
            for config in configs:
                assert osp.isfile(osp.join(REPO_ROOT, config)), where
            checked += 1
    assert checked >= 10  # the README and guides show the tools


def test_the_parser_reads_flags_and_configs():
    """The extraction itself, on a block like the README's."""
    text = ('```bash\npython tools/train.py configs/a.py \\\n'
            '    --cfg-options x=1 --amp  # comment\n'
            '$ python tools/test.py configs/b.py ckpt --tta\n```\n')
    calls = tool_calls(shell_commands(text))
    assert [(t, f, c) for t, f, c, _ in calls] == [
        ('tools/train.py', ['--cfg-options', '--amp'], ['configs/a.py']),
        ('tools/test.py', ['--tta'], ['configs/b.py'])
    ]
