"""Training throughput from an mmengine work dir: samples/s = world size x
per-process batch / median iteration time, read from the newest run's
``vis_data/scalars.json`` (log every iteration with window 1 for this).

    python tools/analysis_tools/samples_per_second.py WORK_DIR --batch-size 32 \\
        --world-size 2 --skip 10
"""
import argparse
import glob
import json
import os.path as osp
import statistics


def iteration_times(work_dir):
    runs = sorted(glob.glob(osp.join(work_dir, '*', 'vis_data',
                                     'scalars.json')))
    if not runs:
        raise SystemExit(f'no */vis_data/scalars.json under {work_dir}')
    with open(runs[-1]) as f:
        records = [json.loads(line) for line in f]
    return [(r['step'], r['time']) for r in records if 'time' in r
            and 'loss' in r]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('work_dir')
    parser.add_argument('--batch-size', type=int, required=True,
                        help='per-process batch size')
    parser.add_argument('--world-size', type=int, default=1)
    parser.add_argument('--skip', type=int, default=5,
                        help='warm-up iterations left out')
    args = parser.parse_args(argv)
    times = [t for step, t in iteration_times(args.work_dir)
             if step > args.skip]
    if not times:
        raise SystemExit('no iteration left after --skip')
    median = statistics.median(times)
    rate = args.world_size * args.batch_size / median
    print(f'{args.work_dir}: {len(times)} iterations, median '
          f'{median:.4f} s/iter, {rate:.1f} samples/s '
          f'(world {args.world_size} x batch {args.batch_size})')
    return rate


if __name__ == '__main__':
    main()
