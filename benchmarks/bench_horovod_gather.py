"""Cost of gathering validation predictions across Horovod ranks.

Run under Horovod, 2 ranks on one machine (`make bench-horovod` does it in .nox/horovod):

    horovodrun --gloo -np 2 -H localhost:2 python benchmarks/bench_horovod_gather.py

One interleaved run: every round times, in an order shuffled the same way on every rank,
`evaluate_generator` of the rank's shard with the stock method (keras_getpredict
uninstalled), with `get_predict={'gather': False}` (each rank keeps its shard), with
`{'gather': 'all'}` (every rank gets the whole set), and with `{'gather': 'all',
'inputs': [...]}` (the images too), each until every rank is done (a barrier: the
next training step waits for the slowest rank anyway). Rank 0 prints medians and ratios.

    [--rounds 15] [--batches 24] [--batch-size 32]
"""
from __future__ import print_function

import argparse
import os
import random
import time
import warnings

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
warnings.simplefilter('ignore')

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

tf.compat.v1.logging.set_verbosity(tf.compat.v1.logging.ERROR)
import horovod.keras as hvd  # noqa: E402

import keras_getpredict  # noqa: E402
from common import RandomBatches, conv_net  # noqa: E402

SHAPE, CLASSES = (16, 16, 1), 10


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('--rounds', type=int, default=15)
    parser.add_argument('--batches', type=int, default=24)
    parser.add_argument('--batch-size', type=int, default=32)
    args = parser.parse_args()
    hvd.init()
    val = RandomBatches(args.batches, args.batch_size, SHAPE, CLASSES, seed=hvd.rank())
    model = conv_net(SHAPE, CLASSES, input_name='image')
    variants = {
        'stock evaluate_generator': None,
        "get_predict, 'gather': False": {'gather': False},
        "get_predict, 'gather': 'all'": {'gather': 'all'},
        "get_predict + inputs, 'gather': 'all'": {'gather': 'all', 'inputs': ['image']},
    }
    names = list(variants)
    times = {name: [] for name in names}
    barrier = np.zeros(1, dtype=np.float32)
    for round_ in range(args.rounds + 1):
        order = list(names)
        random.Random(round_).shuffle(order)  # the same order on every rank
        for name in order:
            get_predict = variants[name]
            if get_predict is None:
                keras_getpredict.uninstall()
            else:
                keras_getpredict.install()
            hvd.allreduce(barrier, name='barrier')
            start = time.perf_counter()
            if get_predict is None:
                model.evaluate_generator(val, len(val))
            else:
                _, preds = model.evaluate_generator(val, len(val), get_predict=get_predict)
                assert len(preds['y_pred']) == len(val) * (hvd.size() if get_predict['gather']
                                                           else 1)
            # Until the slowest rank is done, for every variant: a gather waits for it,
            # and so does the next training step's allreduce without one.
            hvd.allreduce(barrier, name='barrier')
            if round_:  # round 0 warms up (builds the functions and the gather ops)
                times[name].append(time.perf_counter() - start)
    if hvd.rank() == 0:
        base = np.median(times[names[0]])
        own = np.median(times[names[1]])
        print('%d ranks, %d validation batches of %d per rank, %d rounds (medians)'
              % (hvd.size(), args.batches, args.batch_size, args.rounds))
        print('| variant | seconds | vs stock | vs no gather |')
        print('|---|---|---|---|')
        for name in names:
            m = np.median(times[name])
            print('| %s | %.4f | %.2fx | %.2fx |' % (name, m, m / base, m / own))


if __name__ == '__main__':
    main()
