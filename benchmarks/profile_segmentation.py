"""Where a validation batch's time goes, per capture mode: TensorFlow's timeline and
cProfile of the Python side (docs/benchmarks.md, "Profile").

For one model, image size and label kind, each mode (stock, `get_predict=True`, the
reducing mode with `bins=0` and with `bins=B`) runs `evaluate_generator` on the same
batches:

- TensorFlow: the model is compiled with `RunOptions(trace_level=FULL_TRACE)` and a
  `RunMetadata` (Keras hands both to its session run, and keras-getpredict's function
  gets the same), and the op durations of `--traced` one-batch runs are summed per
  node. Nodes that stock Keras also runs are "stock"; the others are the capture's
  own ops, listed by time. `--chrome-trace DIR` writes one Chrome trace per mode
  (chrome://tracing).
- Python: cProfile over `--batches` batches (no tracing): the time inside the session
  run, the time outside it, and the functions that take the time outside it.

    python benchmarks/profile_segmentation.py [--size 128] [--labels one_hot]
        [--model light] [--batches 20] [--traced 10] [--bins 200] [--chrome-trace DIR]
"""
from __future__ import absolute_import, division, print_function

import argparse
import collections
import cProfile
import os
import pstats
import sys
import time
import warnings

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
warnings.simplefilter('ignore')

import tensorflow as tf  # noqa: E402

tf.compat.v1.logging.set_verbosity(tf.compat.v1.logging.ERROR)

import keras_getpredict  # noqa: E402
import segmentation  # noqa: E402

CLASSES = 21
BATCH = 16
SESSION_RUN = 'TF_SessionRunCallable'


def get_predict_of(mode, bins):
    if mode == 'stock':
        return None
    if mode == 'full':
        return True
    return {'reduce': {'num_classes': CLASSES, 'bins': 0 if mode == 'reduce0' else bins}}


def evaluate(model, pool, mode, steps, bins):
    get_predict = get_predict_of(mode, bins)
    kwargs = {} if get_predict is None else {'get_predict': get_predict}
    return model.evaluate_generator(segmentation.cycling(pool), steps, workers=0, **kwargs)


def op_type(node):
    # timeline_label: "name = Op(inputs)"
    label = node.timeline_label
    return label.split(' = ', 1)[1].split('(', 1)[0] if ' = ' in label else node.node_name


def traced_ops(model, pool, mode, bins, runs, metadata, chrome_dir):
    """Summed op microseconds per node name over `runs` one-batch evaluations."""
    from tensorflow.python.client import timeline
    durations = collections.Counter()
    types = {}
    for run in range(runs):
        evaluate(model, pool, mode, 1, bins)
        for device in metadata.step_stats.dev_stats:
            if '/host:' in device.device:
                continue  # the same kernels again, as seen by the host
            for node in device.node_stats:
                durations[node.node_name] += node.all_end_rel_micros
                types[node.node_name] = op_type(node)
        if chrome_dir and run == runs - 1:
            path = os.path.join(chrome_dir, 'timeline_%s.json' % mode)
            with open(path, 'w') as f:
                f.write(timeline.Timeline(metadata.step_stats).generate_chrome_trace_format())
    return dict((name, micros / runs) for name, micros in durations.items()), types


def python_profile(model, pool, mode, bins, steps):
    profile = cProfile.Profile()
    start = time.time()
    profile.enable()
    result = evaluate(model, pool, mode, steps, bins)
    profile.disable()
    wall = time.time() - start
    del result
    stats = pstats.Stats(profile)
    session = sum(tt for (_, _, name), (_, _, tt, _, _) in stats.stats.items()
                  if SESSION_RUN in name)
    outside = sorted(((tt, '%s:%d(%s)' % (os.path.basename(path), line, name))
                      for (path, line, name), (_, _, tt, _, _) in stats.stats.items()
                      if SESSION_RUN not in name), reverse=True)
    return wall / steps, session / steps, outside


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--model', default='light', choices=sorted(segmentation.MODELS))
    parser.add_argument('--size', type=int, default=128)
    parser.add_argument('--labels', default='one_hot', choices=sorted(segmentation.LOSSES))
    parser.add_argument('--bins', type=int, default=200)
    parser.add_argument('--batches', type=int, default=20)
    parser.add_argument('--traced', type=int, default=10)
    parser.add_argument('--top', type=int, default=8)
    parser.add_argument('--modes', default='stock,full,reduce0,reduce')
    parser.add_argument('--chrome-trace', metavar='DIR')
    args = parser.parse_args()
    modes = args.modes.split(',')
    keras_getpredict.install()
    pool = segmentation.batch_pool(args.size, CLASSES, args.labels, BATCH)
    metadata = tf.compat.v1.RunMetadata()
    traced = segmentation.MODELS[args.model](args.size, CLASSES)
    traced.compile('sgd', segmentation.LOSSES[args.labels], run_metadata=metadata,
                   options=tf.compat.v1.RunOptions(
                       trace_level=tf.compat.v1.RunOptions.FULL_TRACE))
    plain = segmentation.compiled(args.model, args.size, CLASSES, args.labels)
    for mode in modes:  # builds every function once
        evaluate(traced, pool, mode, 2, args.bins)
        evaluate(plain, pool, mode, 2, args.bins)
    print('# %s model, %dx%d, %d classes, %s labels, batches of %d, %s'
          % (args.model, args.size, args.size, CLASSES, args.labels, BATCH,
             'load average %.1f' % os.getloadavg()[0]))
    traces = {}
    for mode in modes:
        traces[mode] = traced_ops(traced, pool, mode, args.bins, args.traced, metadata,
                                  args.chrome_trace)
    stock_nodes = set(traces['stock'][0]) if 'stock' in traces else set()
    print('\nTensorFlow timeline: op time per batch (ms, summed over ops; ops run on '
          'two threads, so the sum exceeds the wall time)')
    for mode in modes:
        durations, types = traces[mode]
        stock_ms = sum(us for name, us in durations.items() if name in stock_nodes) / 1e3
        ours = sorted(((us, name) for name, us in durations.items()
                       if name not in stock_nodes), reverse=True)
        print('\n## %s: stock ops %.2f ms, capture ops %.2f ms (%d nodes)'
              % (mode, stock_ms, sum(us for us, _ in ours) / 1e3, len(ours)))
        by_type = collections.Counter()
        for us, name in ours:
            by_type[types[name]] += us
        if by_type:
            print('  by op type: ' + ', '.join('%s %.2f' % (kind, us / 1e3) for kind, us in
                                               by_type.most_common(args.top)))
        for us, name in ours[:args.top]:
            print('  %8.3f ms  %-22s %s' % (us / 1e3, types[name], name))
        if mode == 'stock':
            top = sorted(((us, name) for name, us in durations.items()), reverse=True)
            for us, name in top[:args.top]:
                print('  %8.3f ms  %-22s %s' % (us / 1e3, types[name], name))
    print('\ncProfile: per batch, %d batches' % args.batches)
    for mode in modes:
        wall, session, outside = python_profile(plain, pool, mode, args.bins, args.batches)
        print('\n## %s: %.2f ms per batch, %.2f ms in the session run, %.2f ms outside'
              % (mode, wall * 1e3, session * 1e3, (wall - session) * 1e3))
        for tt, name in outside[:args.top]:
            print('  %8.3f ms  %s' % (tt * 1e3 / args.batches, name))
    sys.stdout.flush()


if __name__ == '__main__':
    main()
