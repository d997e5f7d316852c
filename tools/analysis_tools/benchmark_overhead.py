"""Core-tuning overhead: training step time and peak memory, Core vs CE.

Builds both models of a config pair (a Core-tuning config and its CE-tuning
twin), feeds them the *same* prefetched batches (data loading is excluded)
and times ``model.train_step`` alternately in one process after a warm-up,
printing the median step time of each and the ratio. Peak memory is taken
for each variant in a fresh child process (CUDA: ``max_memory_allocated``;
CPU: the peak RSS during the measured steps minus the RSS before the model
was built), so the two models never share a measurement.

    python tools/analysis_tools/benchmark_overhead.py \\
        configs/coretune/coretune_resnet50-mocov2_1xb256-100e_cifar10-224.py \\
        configs/coretune/cetune_resnet50-mocov2_1xb256-100e_cifar10-224.py \\
        --batch-size 8 --steps 20 --synthetic 224
"""
import argparse
import json
import multiprocessing as mp
import os.path as osp
import statistics
import sys
import time

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
if REPO_ROOT not in sys.path:
    sys.path.insert(0, REPO_ROOT)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description=' '.join(__doc__.split('\n\n')[0].split()))
    parser.add_argument('core_config')
    parser.add_argument('ce_config')
    parser.add_argument('--batch-size', type=int, default=4)
    parser.add_argument('--steps', type=int, default=20)
    parser.add_argument('--warmup', type=int, default=3)
    parser.add_argument(
        '--synthetic',
        type=int,
        default=None,
        metavar='SIZE',
        help='use random SIZExSIZE images and labels instead of the '
        "config's dataset (classification and segmentation)")
    parser.add_argument('--device', default=None, help='cpu or cuda')
    parser.add_argument('--amp', action='store_true')
    parser.add_argument(
        '--no-memory', action='store_true', help='skip the memory phase')
    parser.add_argument('--out', help='write the results as JSON')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        default=[],
        help='key=value overrides applied to both configs')
    return parser.parse_args(argv)


def load_cfg(path, args):
    from mmengine.config import Config, DictAction
    cfg = Config.fromfile(path)
    if args.cfg_options:
        parser = argparse.ArgumentParser()
        parser.add_argument('--o', nargs='+', action=DictAction)
        cfg.merge_from_dict(parser.parse_args(['--o', *args.cfg_options]).o)
    if cfg.get('custom_imports'):
        from mmengine.utils import import_modules_from_strings
        import_modules_from_strings(**cfg.custom_imports)
    return cfg


def synthetic_batches(cfg, n, batch_size, size, seed=0):
    import torch
    g = torch.Generator().manual_seed(seed)
    scope = cfg.get('default_scope', 'mmpretrain')
    batches = []
    for _ in range(n):
        inputs = [
            torch.randint(
                0, 256, (3, size, size), dtype=torch.uint8, generator=g)
            for _ in range(batch_size)
        ]
        if scope == 'mmseg':
            from mmengine.structures import PixelData
            from mmseg.structures import SegDataSample
            num_classes = cfg.model.decode_head.num_classes
            samples = []
            for _ in range(batch_size):
                s = SegDataSample()
                # blocky label maps: several classes per image
                lab = torch.randint(
                    0, num_classes, (1, size // 16, size // 16), generator=g)
                lab = lab.repeat_interleave(16, 1).repeat_interleave(16, 2)
                s.gt_sem_seg = PixelData(data=lab)
                s.set_metainfo(
                    dict(
                        img_shape=(size, size),
                        ori_shape=(size, size),
                        pad_shape=(size, size)))
                samples.append(s)
        else:
            from mmpretrain.structures import DataSample
            num_classes = cfg.model.head.num_classes
            samples = [
                DataSample().set_gt_label(
                    int(torch.randint(0, num_classes, (1, ), generator=g)))
                for _ in range(batch_size)
            ]
        batches.append(dict(inputs=inputs, data_samples=samples))
    return batches


def dataset_batches(cfg, n, batch_size):
    from mmengine.runner import Runner
    loader_cfg = cfg.train_dataloader.copy()
    loader_cfg.update(batch_size=batch_size, num_workers=0)
    loader_cfg.pop('persistent_workers', None)
    loader = Runner.build_dataloader(loader_cfg, seed=0)
    batches = []
    while len(batches) < n:
        for batch in loader:
            batches.append(batch)
            if len(batches) == n:
                break
    return batches


def build(cfg, device, amp):
    from mmengine.optim import build_optim_wrapper

    from coretune_mm.utils import build_model_without_checkpoints
    model = build_model_without_checkpoints(cfg)  # no CSL weights needed
    model.init_weights()
    model.to(device).train()
    optim_cfg = cfg.optim_wrapper.copy()
    if amp:
        optim_cfg.type = 'AmpOptimWrapper'
        optim_cfg.setdefault('dtype',
                             'bfloat16' if device == 'cpu' else 'float16')
    return model, build_optim_wrapper(model, optim_cfg)


def get_batches(cfg, args, n):
    from mmengine.registry import init_default_scope
    init_default_scope(cfg.get('default_scope', 'mmpretrain'))
    if args.synthetic:
        return synthetic_batches(cfg, n, args.batch_size, args.synthetic)
    return dataset_batches(cfg, n, args.batch_size)


def sync(device):
    import torch
    if device.startswith('cuda'):
        torch.cuda.synchronize()


def memory_child(path, args_dict, device, queue):
    """Peak memory of one variant's training steps, alone in this process.

    CUDA: ``max_memory_allocated`` over the measured steps. CPU: the
    process's peak RSS during the measured steps (the kernel's high-water
    mark is reset after the warm-up through ``/proc/self/clear_refs``) minus
    its RSS before the model was built -- so the model, its gradients and
    optimizer state and the step's activations count, while start-up
    transients (building, initialising) do not.
    """
    import torch
    args = argparse.Namespace(**args_dict)
    torch.set_num_threads(args.threads)
    cfg = load_cfg(path, args)
    batches = get_batches(cfg, args, args.warmup + 3)
    base_rss = proc_status_kib('VmRSS')
    model, optim_wrapper = build(cfg, device, args.amp)
    for batch in batches[:args.warmup]:
        model.train_step(batch, optim_wrapper)
    sync(device)
    if device.startswith('cuda'):
        torch.cuda.reset_peak_memory_stats()
    else:
        with open('/proc/self/clear_refs', 'w') as f:
            f.write('5')  # reset the peak RSS (VmHWM) to the current RSS
    for batch in batches[args.warmup:]:
        model.train_step(batch, optim_wrapper)
    sync(device)
    if device.startswith('cuda'):
        peak = torch.cuda.max_memory_allocated() / 2**20
    else:
        peak = (proc_status_kib('VmHWM') - base_rss) / 1024
    queue.put(peak)


def proc_status_kib(field):
    with open('/proc/self/status') as f:
        for line in f:
            if line.startswith(field + ':'):
                return int(line.split()[1])
    raise RuntimeError(f'{field} not found in /proc/self/status')


def main(argv=None):
    args = parse_args(argv)
    import torch
    device = args.device or ('cuda' if torch.cuda.is_available() else 'cpu')
    args.threads = torch.get_num_threads()
    cfgs = {
        'core': load_cfg(args.core_config, args),
        'ce': load_cfg(args.ce_config, args)
    }
    n = args.warmup + args.steps
    batches = get_batches(cfgs['ce'], args, n)
    variants = {k: build(cfg, device, args.amp) for k, cfg in cfgs.items()}
    times = {k: [] for k in variants}
    for i, batch in enumerate(batches):
        order = ('core', 'ce') if i % 2 == 0 else ('ce', 'core')
        for k in order:
            model, optim_wrapper = variants[k]
            sync(device)
            start = time.perf_counter()
            model.train_step(batch, optim_wrapper)
            sync(device)
            if i >= args.warmup:
                times[k].append(time.perf_counter() - start)
    result = dict(
        device=torch.cuda.get_device_name() if device.startswith('cuda') else
        f'cpu ({torch.get_num_threads()} threads)',
        batch_size=args.batch_size,
        steps=args.steps,
        amp=args.amp,
        core_config=args.core_config,
        ce_config=args.ce_config,
        median_step_s={
            k: statistics.median(v)
            for k, v in times.items()
        })
    result['step_time_ratio'] = (
        result['median_step_s']['core'] / result['median_step_s']['ce'])
    del variants
    if not args.no_memory:
        ctx = mp.get_context('spawn')
        peaks = {}
        for k, path in (('core', args.core_config), ('ce', args.ce_config)):
            queue = ctx.Queue()
            proc = ctx.Process(
                target=memory_child, args=(path, vars(args), device, queue))
            proc.start()
            peaks[k] = queue.get()
            proc.join()
        result['peak_memory_mib'] = peaks
        result['peak_memory_ratio'] = peaks['core'] / peaks['ce']
        result['memory_measure'] = (
            'torch.cuda.max_memory_allocated' if device.startswith('cuda') else
            'peak RSS during the steps minus the pre-model RSS')

    print(f'device: {result["device"]}  batch: {args.batch_size}  steps: '
          f'{args.steps} (after {args.warmup} warm-up)  amp: {args.amp}')
    print(f'{"":<6} {"median step (s)":>16} {"peak mem (MiB)":>15}')
    for k in ('core', 'ce'):
        mem = result.get('peak_memory_mib', {}).get(k, float('nan'))
        print(f'{k:<6} {result["median_step_s"][k]:>16.4f} {mem:>15.1f}')
    print(f'Core/CE step time ratio: {result["step_time_ratio"]:.3f}')
    if 'peak_memory_ratio' in result:
        print(f'Core/CE peak memory ratio: {result["peak_memory_ratio"]:.3f}'
              f' ({result["memory_measure"]})')
    if args.out:
        with open(args.out, 'w') as f:
            json.dump(result, f, indent=2)
    return result


if __name__ == '__main__':
    main()
