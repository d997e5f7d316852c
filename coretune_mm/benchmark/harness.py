"""The machinery every benchmark of ``coretune_mm.benchmark`` shares: runs
trained in fresh ``tools/train.py`` processes and cached in a
``results.json``, the selection rule's helpers, and paired statistics and
table cells over seeds."""
import json
import os
import os.path as osp
import statistics
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
SHARED = osp.join(osp.dirname(REPO_ROOT), 'shared')


def run_tool(tool, args, log_path, threads=None):
    """``tools/<tool>`` with ``args`` in a fresh process (``threads``: its
    OpenMP/MKL threads), its output in ``log_path``; raises if it fails."""
    env = dict(os.environ)
    if threads:
        env.update(OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    with open(log_path, 'w') as log:
        proc = subprocess.run(
            [sys.executable,
             osp.join(REPO_ROOT, 'tools', tool), *args],
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=REPO_ROOT,
            env=env)
    if proc.returncode != 0:
        raise RuntimeError(f'{tool} failed (exit {proc.returncode}); see '
                           f'{log_path}')


def run_one(job, read_curve):
    """Train one run in a fresh ``tools/train.py`` process; its result is
    ``read_curve(run_dir)``'s ``(curve, train_loss)``."""
    cfg, run_dir, threads = job
    os.makedirs(run_dir, exist_ok=True)
    cfg_path = osp.join(run_dir, 'config.py')
    cfg.dump(cfg_path)
    run_tool('train.py', [cfg_path, '--work-dir', run_dir],
             osp.join(run_dir, 'train.log'), threads)
    curve, train_loss = read_curve(run_dir)
    return dict(curve=curve, train_loss=train_loss, run_dir=run_dir)


class Runs:
    """Runs keyed by a string, cached in ``results.json``, trained ``jobs``
    at a time (each process with ``cpu_count // jobs`` threads)."""

    def __init__(self, work_root, jobs, read_curve, metric='top1'):
        self.work_root = work_root
        self.read_curve = read_curve
        self.metric = metric
        self.path = osp.join(work_root, 'results.json')
        self.jobs = max(1, jobs)
        self.threads = max(1, (os.cpu_count() or 1) // self.jobs)
        self.results = {}
        # False: report from the cache only (run() returns the cached runs
        # of todo and trains nothing)
        self.train = True
        if osp.exists(self.path):
            with open(self.path) as f:
                self.results = json.load(f)

    def run(self, todo):
        """``todo``: {key: (cfg_builder, run_dir)}; trains what is missing
        (saving ``results.json`` after each run, so an interrupted command
        continues from the cache)."""
        if not self.train:
            return {k: self.results[k] for k in todo if k in self.results}
        missing = {k: v for k, v in todo.items() if k not in self.results}
        if missing:
            print(
                f'[benchmark] training {len(missing)} runs, {self.jobs} at a '
                f'time ({len(todo) - len(missing)} cached)',
                flush=True)

        # configs are built here, in one thread (mmengine's config loading
        # is not thread-safe); the threads only wait on training processes
        jobs = [(key, (build(), run_dir, self.threads))
                for key, (build, run_dir) in sorted(missing.items())]

        def work(item):
            return item[0], run_one(item[1], self.read_curve)

        with ThreadPoolExecutor(self.jobs) as pool:
            for key, result in pool.map(work, jobs):
                self.results[key] = result
                last = result['curve'][-1]
                print(
                    f'[benchmark] {key}: {self.metric} '
                    f'{last[self.metric]:.2f} at epoch {last["epoch"]}',
                    flush=True)
                with open(self.path, 'w') as f:
                    json.dump(self.results, f, indent=1)
        return {k: self.results[k] for k in todo}


def slug(text):
    return ''.join(c if c.isalnum() or c in '.-' else '_' for c in text)


def shown(path):
    """A path as recorded: relative to the repo root when beside it."""
    rel = osp.relpath(osp.abspath(path), REPO_ROOT)
    return rel if not rel.startswith('../..') else osp.abspath(path)


def paired_stats(diffs):
    """Mean, 95 % confidence interval (t distribution) and the paired
    t-test's two-sided p-value of per-seed paired differences."""
    from scipy import stats
    n = len(diffs)
    mean = statistics.mean(diffs)
    if n < 2:
        return dict(
            n=n, mean=mean, ci=(float('nan'), float('nan')), p=float('nan'))
    sd = statistics.stdev(diffs)
    half = stats.t.ppf(0.975, n - 1) * sd / n**0.5
    if sd == 0:
        p = 1.0 if mean == 0 else 0.0
    else:
        p = float(2 * stats.t.sf(abs(mean) / (sd / n**0.5), n - 1))
    return dict(n=n, mean=mean, sd=sd, ci=(mean - half, mean + half), p=p)


def paired_cells(diffs):
    """Table cells of per-seed paired differences: the differences, their
    mean ± std, the 95 % confidence interval and the paired t-test p."""
    st = paired_stats(diffs)
    return (', '.join(f'{d:+.2f}'
                      for d in diffs), f'{st["mean"]:+.2f} ± {st["sd"]:.2f}'
            if len(diffs) > 1 else f'{diffs[0]:+.2f}',
            f'[{st["ci"][0]:+.2f}, {st["ci"][1]:+.2f}]', f'{st["p"]:.3f}')


def fmt(values, digits=2):
    if len(values) == 1:
        return f'{values[0]:.{digits}f}'
    return (f'{statistics.mean(values):.{digits}f} ± '
            f'{statistics.stdev(values):.{digits}f}')


def best_of(rows, rank):
    """The row of ``rows`` with the highest ``rank(row)`` (a tuple: the
    metric first, then the tie-breaks), the first one on equal ranks."""
    best = None
    for row in rows:
        r = rank(row)
        if best is None or r > best[0]:
            best = (r, row)
    if best is None:
        raise ValueError('nothing to select from')
    return best[1]


def grid_choice(methods, points, metric, value_of, tie_breaks):
    """The selection over a grid: ``(rows, chosen)`` with one row
    ``dict(method=..., **point, metric=value_of(method, point))`` per method
    and point, and each method's row of the highest ``(metric, *tie)``
    where ``tie = tie_breaks(row)`` (e.g. fewer steps, then the smaller
    lr: ``lambda r: (-r['epochs'], -r['lr'])``)."""
    rows, chosen = [], {}
    for method in methods:
        mine = [
            dict(method=method, **point, **{metric: value_of(method, point)})
            for point in points
        ]
        rows += mine
        chosen[method] = best_of(mine, lambda r: (r[metric], *tie_breaks(r)))
    return rows, chosen


def scalars_records(run_dir):
    """The records of a run's newest mmengine ``vis_data/scalars.json``."""
    import glob
    runs = sorted(
        glob.glob(osp.join(run_dir, '*', 'vis_data', 'scalars.json')))
    if not runs:
        raise RuntimeError(f'no vis_data/scalars.json under {run_dir}')
    with open(runs[-1]) as f:
        return runs[-1], [json.loads(line) for line in f if line.strip()]


def train_loss_curve(records):
    """Per epoch: the mean training ``loss`` and, where the run logs them
    (Core-tuning), the mean ``loss_con`` and its fraction of the loss."""
    by_epoch = {}
    for rec in records:
        if 'loss' in rec and 'epoch' in rec and 'step' in rec:
            by_epoch.setdefault(int(rec['epoch']), []).append(rec)
    out = []
    for epoch, recs in sorted(by_epoch.items()):
        loss = statistics.mean(r['loss'] for r in recs)
        row = dict(epoch=epoch, loss=loss)
        con = [r['loss_con'] for r in recs if 'loss_con' in r]
        if con:
            row['loss_con'] = statistics.mean(con)
            row['con_fraction'] = row['loss_con'] / loss if loss else 0.0
        out.append(row)
    return out


def paired_table_cells(values, reference):
    """Cells for ``{seed: value}`` against ``{seed: reference value}`` over
    the seeds both have: mean ± std of the values and the paired cells."""
    seeds = sorted(set(values) & set(reference))
    return fmt([values[s] for s in seeds
                ]), paired_cells([values[s] - reference[s] for s in seeds])
