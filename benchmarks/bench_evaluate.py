"""Validation with predictions: stock Keras vs `get_predict` vs the blog recipe (seed 000).

One interleaved run: every round times, in a shuffled order, stock
`evaluate_generator` (keras_getpredict uninstalled), `evaluate_generator(...,
get_predict=True)`, and a faithful reimplementation of the seed's approach
(`test_on_batch` + a second forward pass with `predict_on_batch` + `.tolist()`),
on a small conv net with 24 validation batches. Prints medians and ratios, and the
bytes each approach keeps versus the raw arrays' bytes.

    python benchmarks/bench_evaluate.py [--rounds 15] [--batches 24]
"""
from __future__ import print_function

import argparse
import os
import random
import sys
import time
import warnings

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
warnings.simplefilter('ignore')

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

tf.compat.v1.logging.set_verbosity(tf.compat.v1.logging.ERROR)

import keras_getpredict  # noqa: E402
from common import RandomBatches, conv_net  # noqa: E402


def seed_evaluate_generator(model, sequence):
    """Seed 000's modified evaluate_generator (workers=0 path), for reference."""
    outs_per_batch, batch_sizes, gts, preds = [], [], [], []
    for i in range(len(sequence)):
        x, y = sequence[i]
        outs_per_batch.append(model.test_on_batch(x, y))
        pred = model.predict_on_batch(x)
        gts.append(y.tolist())
        preds.append(pred.tolist())
        batch_sizes.append(x.shape[0])
    averages = [np.average([out[i] for out in outs_per_batch], weights=batch_sizes)
                for i in range(len(outs_per_batch[0]))]
    return averages, {'y_true': gts, 'y_pred': preds}


def deep_size(obj, seen=None):
    """Bytes held by `obj` and everything it references (arrays: header + buffer)."""
    seen = set() if seen is None else seen
    if id(obj) in seen:
        return 0
    seen.add(id(obj))
    if isinstance(obj, np.ndarray):
        return sys.getsizeof(obj) + (0 if obj.base is None else obj.nbytes)
    size = sys.getsizeof(obj)
    if isinstance(obj, dict):
        size += sum(deep_size(k, seen) + deep_size(v, seen) for k, v in obj.items())
    elif isinstance(obj, (list, tuple)):
        size += sum(deep_size(v, seen) for v in obj)
    return size


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--rounds', type=int, default=15)
    parser.add_argument('--batches', type=int, default=24)
    parser.add_argument('--batch-size', type=int, default=32)
    args = parser.parse_args()

    shape, classes = (32, 32, 3), 10
    sequence = RandomBatches(args.batches, args.batch_size, shape, classes)
    model = conv_net(shape, classes)

    def stock():
        return model.evaluate_generator(sequence, workers=0)

    def ours():
        return model.evaluate_generator(sequence, workers=0, get_predict=True)

    def seed():
        return seed_evaluate_generator(model, sequence)

    # Each approach with whether keras_getpredict is installed for it; installing and
    # uninstalling happen outside the timed call.
    methods = {'stock evaluate_generator': (stock, False), 'get_predict=True': (ours, True),
               'seed 000 (predict_on_batch + tolist)': (seed, False)}

    def run(name):
        fn, installed = methods[name]
        (keras_getpredict.install if installed else keras_getpredict.uninstall)()
        start = time.perf_counter()
        result = fn()
        return time.perf_counter() - start, result

    for name in methods:  # warm up: build functions and callables
        run(name)
    times = {name: [] for name in methods}
    rng = random.Random(0)
    for _ in range(args.rounds):
        order = list(methods)
        rng.shuffle(order)
        for name in order:
            times[name].append(run(name)[0])

    medians = {name: float(np.median(t)) for name, t in times.items()}
    base = medians['stock evaluate_generator']
    mine = medians['get_predict=True']
    print('%d validation batches of %d, conv net %s -> %d classes, %d interleaved rounds'
          % (args.batches, args.batch_size, shape, classes, args.rounds))
    print()
    print('| approach | median s | vs stock | vs get_predict |')
    print('|---|---|---|---|')
    for name in methods:
        print('| %s | %.4f | %.2fx | %.2fx |'
              % (name, medians[name], medians[name] / base, medians[name] / mine))

    metrics_ours, preds_ours = run('get_predict=True')[1]
    metrics_seed, preds_seed = run('seed 000 (predict_on_batch + tolist)')[1]
    np.testing.assert_allclose(metrics_ours, metrics_seed, rtol=1e-5)
    np.testing.assert_allclose(np.concatenate(preds_ours['y_pred']),
                               np.array(preds_seed['y_pred']).reshape(-1, classes), rtol=1e-5)
    raw = sum(a.nbytes for a in preds_ours['y_true'] + preds_ours['y_pred'])
    print()
    print('| retained | bytes | vs raw arrays |')
    print('|---|---|---|')
    print('| raw y_true + y_pred arrays | %d | 1.00x |' % raw)
    for name, preds in (('get_predict=True', preds_ours), ('seed 000 nested lists', preds_seed)):
        size = deep_size(preds)
        print('| %s | %d | %.2fx |' % (name, size, size / float(raw)))
    print()
    print('targets: get_predict/stock <= 1.05 (got %.3f); seed/get_predict >= 1.8 (got %.2f); '
          'retained <= 1.1x raw (got %.3f)'
          % (mine / base, medians[list(methods)[2]] / mine, deep_size(preds_ours) / float(raw)))


if __name__ == '__main__':
    main()
