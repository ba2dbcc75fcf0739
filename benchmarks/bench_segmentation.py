"""Validation capture at segmentation sizes: each mode's time against stock Keras,
and its peak memory, in one table (`make bench-segmentation`, docs/benchmarks.md).

Per-pixel outputs of 21 classes, `evaluate_generator` over batches of 16 that a
generator cycles through (yielding the same arrays again, as generators that reuse
their buffers do), for:

- the light model (`Conv2D(16, 3) -> Conv2D(21, 1, softmax)`, the worst case: its
  forward pass is about as cheap as reading its output) at 32x32, 64x64, 128x128;
- a U-Net of about 1.1 M parameters at 128x128 (`--unet-size`);

each with one-hot float32 labels and with integer uint8 labels. Modes: stock Keras
(keras_getpredict uninstalled), `get_predict=True` (full capture), and the reducing
mode on the graph (the default) with `bins=0` (confusion counts only) and `bins=200`.

Each configuration runs in a fresh process. Every round times stock and each mode
once, in a shuffled order; a cell is the median over rounds of the round's ratio
`mode time / stock time`, with the lowest and highest ratio in brackets (the machine
may be shared: the spread says how noisy the round was). Peak memory: the highest
resident set size during one more call of each mode after the rounds (VmHWM, reset
before the call) minus the resident set size before it, once the heap has handed
freed memory back.

    python benchmarks/bench_segmentation.py [--rounds 11] [--batches 20] [--sizes 32,64,128]
        [--labels one_hot,integer] [--unet-size 128] [--unet-batches 3] [--bins 200]
        [--save FILE] [--pool FILE [FILE ...]] [--memory-scan]

`--save` appends each row's rounds to FILE; `--pool` prints one table from several
saved runs, every cell over all their rounds (on a shared machine, one run is noisy).

`--memory-scan` prints instead the reducing mode's peak memory against the number of
validation samples (a fresh process per size and mode; docs/reduce.md).
"""
from __future__ import absolute_import, division, print_function

import argparse
import json
import os
import random
import subprocess
import sys
import time

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')

CLASSES = 21
BATCH = 16
MODES = ('full', 'reduce0', 'reduce')


def mode_label(mode, bins):
    return {'stock': 'stock', 'full': 'get_predict=True',
            'reduce0': 'reduce, bins=0', 'reduce': 'reduce, bins=%d' % bins,
            'numpy': 'reduce numpy, bins=%d' % bins}[mode]


def get_predict_of(mode, bins):
    if mode == 'full':
        return True
    if mode in ('reduce0', 'reduce', 'numpy'):
        return {'reduce': {'num_classes': CLASSES, 'bins': 0 if mode == 'reduce0' else bins,
                           'on_graph': mode != 'numpy'}}
    return None


def _status_mb(field):
    with open('/proc/self/status') as f:
        for line in f:
            if line.startswith(field + ':'):
                return int(line.split()[1]) / 1024.
    return float('nan')


def _trim_heap():
    """Hands the heap's free memory back (glibc `malloc_trim`), so that the RSS before
    a call holds no memory an earlier call freed and each call's growth is its own."""
    try:
        import ctypes
        ctypes.CDLL('libc.so.6').malloc_trim(0)
    except (OSError, AttributeError):
        pass


def _reset_peak():
    """Resets VmHWM to the current RSS (Linux >= 4.0); False where not allowed."""
    try:
        with open('/proc/self/clear_refs', 'w') as f:
            f.write('5')
        return True
    except (IOError, OSError):
        return False


def _quiet_imports():
    import warnings
    warnings.simplefilter('ignore')
    import tensorflow as tf
    tf.compat.v1.logging.set_verbosity(tf.compat.v1.logging.ERROR)


def child_rounds(config):
    """Times every mode against stock for one configuration; prints JSON."""
    _quiet_imports()
    import keras_getpredict
    import segmentation
    model = segmentation.compiled(config['model'], config['size'], CLASSES, config['labels'])
    pool = segmentation.batch_pool(config['size'], CLASSES, config['labels'], BATCH)
    bins, steps = config['bins'], config['batches']
    modes = ['stock'] + list(config['modes'])

    def run(mode, steps, memory=False):
        get_predict = get_predict_of(mode, bins)
        if get_predict is None:
            keras_getpredict.uninstall()
            kwargs = {}
        else:
            keras_getpredict.install()
            kwargs = {'get_predict': get_predict}
        generator = segmentation.cycling(pool)
        if memory:
            _trim_heap()
            resettable = _reset_peak()
            before = _status_mb('VmRSS')
        start, cpu = time.time(), time.process_time()
        result = model.evaluate_generator(generator, steps, workers=0, **kwargs)
        seconds, cpu = time.time() - start, time.process_time() - cpu
        grown = _status_mb('VmHWM') - before if memory and resettable else float('nan')
        del result
        return seconds, cpu, grown

    for mode in modes:
        # Builds each function and session callable, and touches the memory a full
        # capture keeps once (the first touch of fresh pages costs more than later ones).
        run(mode, steps)
    rng = random.Random(config['seed'])
    times, cpu = [dict((mode, []) for mode in modes) for _ in range(2)]
    for _ in range(config['rounds']):
        order = list(modes)
        rng.shuffle(order)
        for mode in order:
            seconds, used, _ = run(mode, steps)
            times[mode].append(seconds)
            cpu[mode].append(used)
    # Memory apart, after the rounds: handing freed memory back before each call would
    # make every call touch fresh pages, which is slow on this VM and not what an
    # epoch's validation meets.
    growth = dict((mode, [run(mode, steps, memory=True)[2]]) for mode in modes)
    print(json.dumps({'times': times, 'cpu': cpu, 'growth': growth,
                      'params': model.count_params(), 'load': os.getloadavg()[0]}))


def _run_child(args):
    out = subprocess.check_output([sys.executable, os.path.abspath(__file__)] + args,
                                  stderr=subprocess.DEVNULL)
    return json.loads(out.decode().strip().splitlines()[-1])


def _median(values):
    values = sorted(values)
    n = len(values)
    return values[n // 2] if n % 2 else 0.5 * (values[n // 2 - 1] + values[n // 2])


def _configs(args):
    labels = args.labels.split(',')
    configs = [dict(model='light', size=int(size), labels=kind, batches=args.batches)
               for size in args.sizes.split(',') for kind in labels]
    if args.unet_size:
        configs += [dict(model='unet', size=args.unet_size, labels=kind,
                         batches=args.unet_batches) for kind in labels]
    return configs


def _key(config):
    return (config['model'], config['size'], config['labels'], config['batches'])


def timing_table(args):
    """Runs every configuration, prints its row as it comes, then the worst medians."""
    modes = args.modes.split(',')
    print(HEADER % (args.rounds, os.getloadavg()[0]))
    print()
    print_header(modes, args.bins)
    results = []
    started = time.time()
    for i, config in enumerate(_configs(args)):
        config.update(rounds=args.rounds, bins=args.bins, modes=modes, seed=i)
        result = _run_child(['--child', json.dumps(config)])
        result['config'] = config
        results.append(result)
        if args.save:
            with open(args.save, 'a') as f:
                f.write(json.dumps(result) + '\n')
        print_row(result, modes)
        sys.stdout.flush()
    print_worst(results, modes, args.bins)
    print('Load average %.1f at the end; %.0f s.' % (os.getloadavg()[0],
                                                     time.time() - started))


def pooled_table(paths, args):
    """The table of several saved runs (`--save`), each cell over all their rounds."""
    pooled = {}
    for path in paths:
        with open(path) as f:
            for line in f:
                result = json.loads(line)
                key = _key(result['config'])
                if key not in pooled:
                    pooled[key] = result
                    continue
                for field in ('times', 'cpu', 'growth'):
                    for mode, values in result[field].items():
                        pooled[key][field][mode] += values
    results = list(pooled.values())
    modes = results[0]['config']['modes']
    bins = results[0]['config']['bins']
    rounds = sorted(set(len(r['times']['stock']) for r in results))
    print(HEADER % (rounds[-1], max(r['load'] for r in results)))
    print('(%d runs pooled: %s)' % (len(paths), ', '.join(paths)))
    print()
    print_header(modes, bins)
    for result in results:
        print_row(result, modes)
    print_worst(results, modes, bins)


HEADER = ('Time against stock `evaluate_generator`: median of %d per-round ratios of wall '
          'time [lowest-highest], and of process CPU time (all threads); peak RSS growth '
          'during the call (MB). 21 classes, batches of 16; load average %.1f.')


def print_header(modes, bins):
    print('| model | size | labels | batches | stock ms/batch | '
          + ' | '.join(mode_label(m, bins) for m in modes) + ' |')
    print('|---|---|---|---:|---:|' + '---|' * len(modes))


def _ratios(result, mode):
    wall = [t / s for t, s in zip(result['times'][mode], result['times']['stock'])]
    cpu = [t / s for t, s in zip(result['cpu'][mode], result['cpu']['stock'])]
    return wall, cpu


def print_row(result, modes):
    config = result['config']
    cells = []
    for mode in modes:
        wall, cpu = _ratios(result, mode)
        cells.append('%.2fx [%.2f-%.2f] cpu %.2fx, +%.0f MB' % (
            _median(wall), min(wall), max(wall), _median(cpu), max(result['growth'][mode])))
    name = 'light' if config['model'] == 'light' else 'U-Net %.1fM' % (
        result['params'] / 1e6)
    stock = result['times']['stock']
    print('| %s | %d² | %s | %d | %.1f (+%.0f MB) | %s |' % (
        name, config['size'], config['labels'].replace('_', '-'), config['batches'],
        1e3 * _median(stock) / config['batches'], max(result['growth']['stock']),
        ' | '.join(cells)))


def print_worst(results, modes, bins):
    print()
    for model in ('light', 'unet'):
        mine = [r for r in results if r['config']['model'] == model]
        if not mine:
            continue
        worst = []
        for mode in modes:
            medians = [[_median(x) for x in _ratios(r, mode)] for r in mine]
            worst.append('%s %.2fx (cpu %.2fx)' % (
                mode_label(mode, bins), max(m[0] for m in medians),
                max(m[1] for m in medians)))
        print('Worst median, %s: %s' % (model, ', '.join(worst)))


# --- --memory-scan: peak RSS against the number of validation samples --------------

def child_memory(mode, samples, bins, size):
    _quiet_imports()
    import resource
    import keras_getpredict
    import segmentation
    keras_getpredict.install()
    model = segmentation.compiled('light', size, CLASSES, 'integer')
    pool = segmentation.batch_pool(size, CLASSES, 'integer', BATCH)
    get_predict = get_predict_of(mode, bins)
    kwargs = {} if get_predict is None else {'get_predict': get_predict}
    model.evaluate_generator(segmentation.cycling(pool), 4, workers=0, **kwargs)
    warm = _status_mb('VmRSS')
    result = model.evaluate_generator(segmentation.cycling(pool), samples // BATCH,
                                      workers=0, **kwargs)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.
    print(json.dumps({'peak_mb': peak, 'warm_mb': warm}))
    del result


def memory_scan(args):
    size = 64
    sizes = [1024, 2048, 4096, 8192, 16384]
    modes = ['stock', 'full', 'numpy', 'reduce']
    print('Peak RSS (MB) of a fresh process, per-pixel %dx%dx%d outputs, batches of %d '
          '(growth = peak - RSS after warm-up)' % (size, size, CLASSES, BATCH))
    print('| samples | predictions | ' + ' | '.join(mode_label(m, args.bins) for m in modes)
          + ' |')
    print('|---:|---:|' + '---:|' * len(modes))
    for samples in sizes:
        cells = []
        for mode in modes:
            if mode == 'full' and samples > 4096:
                cells.append('(skipped)')
                continue
            r = _run_child(['--bins', str(args.bins), '--memory-child', mode, str(samples),
                            str(size)])
            cells.append('%.0f (+%.0f)' % (r['peak_mb'], r['peak_mb'] - r['warm_mb']))
        gb = samples * size * size * CLASSES * 4 / 1e9
        print('| %d | %.2f GB | %s |' % (samples, gb, ' | '.join(cells)))
        sys.stdout.flush()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--rounds', type=int, default=11)
    parser.add_argument('--batches', type=int, default=20)
    parser.add_argument('--sizes', default='32,64,128')
    parser.add_argument('--labels', default='one_hot,integer')
    parser.add_argument('--unet-size', type=int, default=128, help='0: no U-Net')
    parser.add_argument('--unet-batches', type=int, default=3)
    parser.add_argument('--modes', default=','.join(MODES))
    parser.add_argument('--bins', type=int, default=200)
    parser.add_argument('--memory-scan', action='store_true')
    parser.add_argument('--save', metavar='FILE', help='append each row\'s rounds (JSON)')
    parser.add_argument('--pool', metavar='FILE', nargs='+',
                        help='print the table of saved runs, their rounds pooled')
    parser.add_argument('--child', help=argparse.SUPPRESS)
    parser.add_argument('--memory-child', nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    if args.child:
        child_rounds(json.loads(args.child))
    elif args.memory_child:
        mode, samples, size = args.memory_child
        child_memory(mode, int(samples), args.bins, int(size))
    elif args.memory_scan:
        memory_scan(args)
    elif args.pool:
        pooled_table(args.pool, args)
    else:
        timing_table(args)


if __name__ == '__main__':
    main()
