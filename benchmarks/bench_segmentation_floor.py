"""The floor each capture mode's own operations set, on the light segmentation model
(docs/benchmarks.md, "Floors").

In the model's validation session run (its stock Keras test function: loss only, no
generator, no Keras loop), each variant adds one thing, timed against the stock run in
interleaved rounds (median of per-round ratios of wall and process CPU time):

- `ArgMax`: TensorFlow's ArgMax over the scores (the predicted class of every pixel:
  what confusion counts cannot do without);
- `Bincount`: TensorFlow's Bincount over one int32 per score, fed ready-made (the
  histograms' single counting pass, without computing any bin);
- `fetch + copy`: the outputs fetched and the targets copied, both kept (what the full
  capture must do: generators reuse their buffers);
- `bins=0`, `bins=200`: the reducing mode's counting ops (`core/graph_reduce.py`).

    python benchmarks/bench_segmentation_floor.py [--sizes 32,64,128] [--labels one_hot]
        [--rounds 15]
"""
from __future__ import absolute_import, division, print_function

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

from keras import backend as K  # noqa: E402

import segmentation  # noqa: E402
from keras_getpredict.core import graph_reduce  # noqa: E402
from keras_getpredict.core.reduce_counts import ReduceSpec, ReducingRecorder  # noqa: E402

CLASSES = 21
BATCH = 16
BINS = 200
VARIANTS = ('ArgMax', 'Bincount', 'fetch + copy', 'bins=0', 'bins=200')


class _Plan(object):
    """What `ReducingRecorder.add_counted` reads of a `BatchFetches`."""

    def __init__(self, model):
        self.output_names = model.output_names
        self.targets = model.targets


def variants(model, pool):
    """name -> function of one batch `(x, y)`, each returning what it keeps."""
    model._make_test_function()
    stock = model.test_function
    ones = np.ones(BATCH, 'float32')
    y_true, y_pred = model.targets[0], model.outputs[0]
    scores = tf.reshape(y_pred, [-1, CLASSES])
    fed_index = tf.compat.v1.placeholder(tf.int32, [None])
    size = CLASSES * (BINS + 1)
    # A realistic index: each score's bin at its class's offset.
    index_of = {}
    for x, y in pool:
        probs = model.predict(x, batch_size=BATCH).reshape(-1, CLASSES)
        index_of[id(x)] = ((probs * BINS).astype(np.int32) +
                           np.arange(CLASSES, dtype=np.int32) * (BINS + 1)).ravel()

    def with_outputs(extra, feed_index=False):
        inputs = list(stock.inputs) + ([fed_index] if feed_index else [])
        return K.function(inputs, list(stock.outputs) + list(extra))

    argmax = with_outputs([tf.reduce_sum(tf.argmax(scores, -1, output_type=tf.int32))])
    bincount = with_outputs([tf.raw_ops.Bincount(arr=fed_index, size=size,
                                                 weights=tf.zeros([0], tf.int32))],
                            feed_index=True)
    fetch = with_outputs([y_pred])
    counting = {}
    for bins in (0, BINS):
        spec = ReduceSpec(CLASSES, bins)
        counting[bins] = (with_outputs(graph_reduce.count_tensors(y_true, y_pred, spec)),
                          ReducingRecorder(spec))
    plan = _Plan(model)

    def count(bins):
        function, recorder = counting[bins]

        def run(x, y):
            outs = function([x, y, ones])
            recorder.add_counted(plan, {model.output_names[0]: outs[1:]})
        return run

    return {
        'stock': lambda x, y: stock([x, y, ones]),
        'ArgMax': lambda x, y: argmax([x, y, ones]),
        'Bincount': lambda x, y: bincount([x, y, ones, index_of[id(x)]]),
        'fetch + copy': lambda x, y: (fetch([x, y, ones])[1], np.array(y, copy=True)),
        'bins=0': count(0),
        'bins=200': count(BINS),
    }


def measure(size, labels, rounds, batches):
    model = segmentation.compiled('light', size, CLASSES, labels)
    pool = segmentation.batch_pool(size, CLASSES, labels, BATCH)
    functions = variants(model, pool)

    def run(name):
        kept = []
        start, cpu = time.time(), time.process_time()
        for i in range(batches):
            kept.append(functions[name](*pool[i % len(pool)]))
        return time.time() - start, time.process_time() - cpu

    for name in functions:
        run(name)
    times = dict((name, []) for name in functions)
    for _ in range(rounds):
        order = list(functions)
        random.shuffle(order)
        for name in order:
            times[name].append(run(name))
    ratios = {}
    for name in VARIANTS:
        wall = np.median([t[0] / s[0] for t, s in zip(times[name], times['stock'])])
        cpu = np.median([t[1] / s[1] for t, s in zip(times[name], times['stock'])])
        ratios[name] = (wall, cpu)
    stock_ms = 1e3 * np.median([s[0] for s in times['stock']]) / batches
    return stock_ms, ratios


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--sizes', default='32,64,128')
    parser.add_argument('--labels', default='one_hot')
    parser.add_argument('--rounds', type=int, default=15)
    parser.add_argument('--batches', type=int, default=20)
    args = parser.parse_args()
    print('Light model, %d classes, batches of %d: median of %d per-round ratios to the '
          'stock test function, wall (CPU); load average %.1f at start.'
          % (CLASSES, BATCH, args.rounds, os.getloadavg()[0]))
    print()
    print('| size | labels | stock ms/batch | ' + ' | '.join(VARIANTS) + ' |')
    print('|---|---|---:|' + '---:|' * len(VARIANTS))
    for labels in args.labels.split(','):
        for size in [int(s) for s in args.sizes.split(',')]:
            K.clear_session()
            stock_ms, ratios = measure(size, labels, args.rounds, args.batches)
            print('| %d² | %s | %.1f | %s |' % (
                size, labels.replace('_', '-'), stock_ms,
                ' | '.join('%.2fx (%.2fx)' % ratios[name] for name in VARIANTS)))
            sys.stdout.flush()
    print('Load average %.1f at the end.' % os.getloadavg()[0])


if __name__ == '__main__':
    main()
