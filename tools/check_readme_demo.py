"""Check that the README shows what the demo prints.

The README's demo table sits between ``<!-- demo-table:start -->`` and
``<!-- demo-table:end -->`` (inside a code fence); ``make demo`` writes the
same table to ``WORK_DIR/table.txt``. Exit 0 when they are equal, else 1
with a diff. ``.ci/run`` runs it after ``make demo``.

    python tools/check_readme_demo.py [--readme README.md] \\
        [--table work_dirs/demo_digits/table.txt]
"""
import argparse
import difflib
import os.path as osp
import sys

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
START, END = '<!-- demo-table:start -->', '<!-- demo-table:end -->'


def readme_table(text):
    """The table lines between the markers, without the code fence."""
    if START not in text or END not in text:
        raise ValueError(f'the README has no {START} ... {END} block')
    block = text.split(START, 1)[1].split(END, 1)[0]
    lines = [ln.rstrip() for ln in block.strip().splitlines()]
    return [ln for ln in lines if not ln.startswith('```')]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--readme', default=osp.join(REPO_ROOT, 'README.md'))
    parser.add_argument(
        '--table',
        default=osp.join(REPO_ROOT, 'work_dirs', 'demo_digits', 'table.txt'))
    args = parser.parse_args(argv)
    with open(args.readme) as f:
        shown = readme_table(f.read())
    if not osp.exists(args.table):
        print(f'{args.table} not found: run `make demo` first')
        return 1
    with open(args.table) as f:
        printed = [ln.rstrip() for ln in f.read().strip().splitlines()]
    if shown == printed:
        print(f'README demo table matches {args.table}')
        return 0
    print(f'README demo table differs from what the demo printed '
          f'({args.table}):')
    sys.stdout.writelines(ln + '\n' for ln in difflib.unified_diff(
        shown, printed, 'README.md', args.table, lineterm=''))
    return 1


if __name__ == '__main__':
    sys.exit(main())
