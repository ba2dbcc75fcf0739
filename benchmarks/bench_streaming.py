"""Reducing mode vs full capture: peak memory against validation set size, and time.

Per-pixel segmentation outputs (N, 64, 64, 21) from a small conv net, validated with
`evaluate_generator` in batches of 16:

- peak RSS (`resource.getrusage(...).ru_maxrss`) of a fresh subprocess per size and
  mode: stock Keras, `get_predict=True` (full capture), and
  `get_predict={'reduce': {'num_classes': 21, 'bins': B}}` (with B bins, and B=0:
  confusion matrix only), counted in numpy or on the graph (`'on_graph': True`);
  the growth column is peak minus the RSS after warm-up;
- epoch time of each mode against stock `evaluate_generator`, interleaved repeats in
  one process, median of each (one run on a shared machine: read the ratio, not the
  seconds).

    python benchmarks/bench_streaming.py [--sizes 1024,2048,4096,8192,16384]
        [--full-max 4096] [--time-samples 1024] [--repeats 5]

Full capture is measured up to `--full-max` samples (16k samples of 64x64x21 float32
predictions are 5.5 GB); its growth is linear, so larger sizes add nothing.
"""
from __future__ import absolute_import, print_function

import argparse
import json
import os
import resource
import subprocess
import sys
import time

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')

BATCH = 16
SIZE = 64
CLASSES = 21


def _rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.


def _current_rss_mb():
    with open('/proc/self/statm') as f:
        return int(f.read().split()[1]) * os.sysconf('SC_PAGE_SIZE') / 2. ** 20


def _model_and_data():
    import numpy as np
    import warnings
    warnings.simplefilter('ignore')
    from keras.layers import Conv2D, Input
    from keras.models import Model
    import keras_getpredict
    keras_getpredict.install()
    x = Input((SIZE, SIZE, 3))
    h = Conv2D(16, 3, padding='same', activation='relu')(x)
    y = Conv2D(CLASSES, 1, activation='softmax')(h)
    model = Model(x, y)
    model.compile('sgd', 'sparse_categorical_crossentropy')
    rng = np.random.RandomState(0)
    # A pool of batches the generator cycles through: the data itself stays small,
    # so the RSS growth is what the validation keeps.
    pool = [(rng.rand(BATCH, SIZE, SIZE, 3).astype('float32'),
             rng.randint(0, CLASSES, (BATCH, SIZE, SIZE, 1)).astype('uint8'))
            for _ in range(4)]

    def batches():
        while True:
            for item in pool:
                yield item
    return model, batches


def _get_predict(mode, bins):
    if mode == 'stock':
        return None
    if mode == 'full':
        return True
    return {'reduce': {'num_classes': CLASSES, 'bins': 0 if mode.endswith('0') else bins,
                       'on_graph': mode.startswith('graph')}}


def _evaluate(model, batches, mode, samples, bins):
    get_predict = _get_predict(mode, bins)
    steps = samples // BATCH
    kwargs = {} if get_predict is None else {'get_predict': get_predict}
    start = time.time()
    result = model.evaluate_generator(batches(), steps, workers=0, **kwargs)
    return time.time() - start, result


def child_memory(mode, samples, bins):
    model, batches = _model_and_data()
    _evaluate(model, batches, mode, BATCH * 4, bins)  # warm-up: graph, session callables
    warm = _current_rss_mb()
    seconds, result = _evaluate(model, batches, mode, samples, bins)
    print(json.dumps({'peak_mb': _rss_mb(), 'warm_mb': warm, 'seconds': seconds}))
    del result


def child_timing(samples, bins, repeats, modes):
    model, batches = _model_and_data()
    for mode in modes:
        _evaluate(model, batches, mode, BATCH * 4, bins)
    times = dict((mode, []) for mode in modes)
    for _ in range(repeats):
        for mode in modes:
            seconds, result = _evaluate(model, batches, mode, samples, bins)
            del result
            times[mode].append(seconds)
    print(json.dumps(times))


def _run_child(args):
    out = subprocess.check_output([sys.executable, os.path.abspath(__file__)] + args,
                                  stderr=subprocess.DEVNULL)
    return json.loads(out.decode().strip().splitlines()[-1])


def _median(values):
    values = sorted(values)
    n = len(values)
    return values[n // 2] if n % 2 else 0.5 * (values[n // 2 - 1] + values[n // 2])


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--sizes', default='1024,2048,4096,8192,16384')
    parser.add_argument('--full-max', type=int, default=4096)
    parser.add_argument('--bins', type=int, default=200)
    parser.add_argument('--time-samples', type=int, default=1024)
    parser.add_argument('--repeats', type=int, default=5)
    parser.add_argument('--child', nargs='+', help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        if args.child[0] == 'timing':
            child_timing(int(args.child[1]), args.bins, args.repeats, args.child[2:])
        else:
            child_memory(args.child[0], int(args.child[1]), args.bins)
        return

    modes = ['stock', 'full', 'reduce', 'reduce0', 'graph', 'graph0']
    labels = {'stock': 'stock', 'full': 'get_predict=True',
              'reduce': 'reduce numpy, bins=%d' % args.bins, 'reduce0': 'reduce numpy, bins=0',
              'graph': 'reduce on graph, bins=%d' % args.bins, 'graph0': 'reduce on graph, bins=0'}
    sizes = [int(s) for s in args.sizes.split(',')]
    memory_modes = ['stock', 'full', 'reduce', 'graph']
    print('Peak RSS (MB) of a fresh process, per-pixel %dx%dx%d outputs, batches of %d '
          '(growth = peak - RSS after warm-up)' % (SIZE, SIZE, CLASSES, BATCH))
    print('| samples | predictions | ' + ' | '.join(labels[m] for m in memory_modes) + ' |')
    print('|---:|---:|' + '---:|' * len(memory_modes))
    for samples in sizes:
        cells = []
        for mode in memory_modes:
            if mode == 'full' and samples > args.full_max:
                cells.append('(skipped)')
                continue
            r = _run_child(['--bins', str(args.bins), '--child', mode, str(samples)])
            cells.append('%.0f (+%.0f)' % (r['peak_mb'], r['peak_mb'] - r['warm_mb']))
        gb = samples * SIZE * SIZE * CLASSES * 4 / 1e9
        print('| %d | %.2f GB | %s |' % (samples, gb, ' | '.join(cells)))
        sys.stdout.flush()

    times = _run_child(['--bins', str(args.bins), '--repeats', str(args.repeats),
                        '--child', 'timing', str(args.time_samples)] + modes)
    stock = _median(times['stock'])
    print()
    print('Epoch time, %d samples, median of %d interleaved runs (one shared machine):'
          % (args.time_samples, args.repeats))
    print('| mode | seconds | vs stock |')
    print('|---|---:|---:|')
    for mode in modes:
        t = _median(times[mode])
        print('| %s | %.2f | %.2fx |' % (labels[mode], t, t / stock))


if __name__ == '__main__':
    main()
