"""Per-training-step time: no collector vs `BatchPredictions` vs the seed 001 recipe.

Three copies of one model (same architecture, same initial weights) train side by
side:

- `stock`: no collector;
- `BatchPredictions`: this package's callback (targets and outputs, default storage);
- `seed recipe`: the Q&A answer as written -- `model._function_kwargs = {'fetches':
  [tf.assign(var, tensor, validate_shape=False), ...]}`, `train_function = None`,
  and one `K.eval` per variable in `on_batch_end`.

Two interleavings, both in this one run:

1. step by step: the loop body of Keras' `fit_generator` (`on_batch_begin`,
   `train_on_batch`, `on_batch_end` of a `CallbackList`), the three variants
   taking turns every step in rotating order. A step's ratio is taken against
   the `stock` step next to it in time, so the machine's load drifting cancels
   out; the table shows medians.
2. fit by fit: whole `model.fit` calls (arrays), one per variant in turn, rotating
   the order every round. A step is the time between consecutive `on_batch_end`
   calls of a timer placed after every other callback (the first step of each
   fit, which builds the session callable, is left out and shown on its own:
   `BatchPredictions` adds its fetch at train begin, so Keras re-makes the train
   function's callable once per fit); per round each variant's median step,
   ratio per round against `stock`, median over rounds.

    .nox/test/bin/python benchmarks/bench_batch_predictions.py [--scale 1] [--fit-steps 8]
"""
from __future__ import absolute_import, print_function

import argparse
import os
import sys
import time
import warnings

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
os.environ.setdefault('KERAS_BACKEND', 'tensorflow')

with warnings.catch_warnings():
    warnings.simplefilter('ignore')
    import numpy as np
    import tensorflow as tf
    tf.compat.v1.logging.set_verbosity(tf.compat.v1.logging.ERROR)
    from keras import backend as K
    from keras import layers, optimizers
    from keras.callbacks import Callback, CallbackList
    from keras.models import Sequential

from common import random_images  # noqa: E402
from keras_getpredict import BatchPredictions  # noqa: E402

VARIANTS = ('stock', 'BatchPredictions', 'seed recipe')


class SeedRecipe(Callback):
    """The accepted answer of seed 001, as written there."""

    def __init__(self):
        super(SeedRecipe, self).__init__()
        self.targets = []
        self.outputs = []
        self.var_y_true = tf.Variable(0., validate_shape=False)
        self.var_y_pred = tf.Variable(0., validate_shape=False)

    def wire(self, model):
        fetches = [tf.assign(self.var_y_true, model.targets[0], validate_shape=False),
                   tf.assign(self.var_y_pred, model.outputs[0], validate_shape=False)]
        model._function_kwargs = {'fetches': fetches}
        model.train_function = None

    def on_epoch_begin(self, epoch, logs=None):
        # Same memory policy as BatchPredictions' default (this epoch only), so
        # the comparison is about the capture, not about list growth.
        self.targets, self.outputs = [], []

    def on_batch_end(self, batch, logs=None):
        self.targets.append(K.eval(self.var_y_true))
        self.outputs.append(K.eval(self.var_y_pred))


class StepTimer(Callback):
    def __init__(self):
        super(StepTimer, self).__init__()
        self.ends = []

    def on_train_begin(self, logs=None):
        self.begin = time.perf_counter()
        self.ends = []

    def on_batch_end(self, batch, logs=None):
        self.ends.append(time.perf_counter())

    def steps(self):
        return np.diff(self.ends)  # leaves out the first step of the fit

    def first_step(self):
        return self.ends[0] - self.begin


def mlp():
    return Sequential([layers.Dense(256, activation='relu', input_shape=(64,)),
                       layers.Dense(256, activation='relu'),
                       layers.Dense(10, activation='softmax')])


def cnn():
    return Sequential([layers.Conv2D(32, 3, activation='relu', input_shape=(32, 32, 3)),
                       layers.Conv2D(32, 3, activation='relu'),
                       layers.MaxPooling2D(),
                       layers.Conv2D(64, 3, activation='relu'),
                       layers.MaxPooling2D(),
                       layers.Flatten(),
                       layers.Dense(10, activation='softmax')])


def digits_data(n):
    from sklearn.datasets import load_digits
    digits = load_digits()
    x = (digits.data / 16.).astype('float32')
    y = np.eye(10, dtype='float32')[digits.target]
    repeat = -(-n // len(x))  # the 1797 digits, repeated when a fit needs more
    return np.tile(x, (repeat, 1))[:n], np.tile(y, (repeat, 1))[:n]


def image_data(n):
    return random_images(n, (32, 32, 3), 10)


WORKLOADS = [
    # name, model factory, data factory, batch size, timed steps, fit rounds
    # (the MLP's steps are cheap: more of them for a steadier median)
    ('MLP 64-256-256-10, batch 64 (digits)', mlp, digits_data, 64, 600, 60),
    ('CNN 3 conv on 32x32x3, batch 32', cnn, image_data, 32, 150, 30),
]


def build_variants(build):
    models, callbacks = {}, {}
    weights = None
    for variant in VARIANTS:
        model = build()
        if weights is None:
            weights = model.get_weights()
        model.set_weights(weights)
        model.compile(optimizers.Adam(lr=1e-4), 'categorical_crossentropy')
        if variant == 'seed recipe':
            recipe = SeedRecipe()
            recipe.wire(model)
            callbacks[variant] = [recipe]
        elif variant == 'BatchPredictions':
            callbacks[variant] = [BatchPredictions()]
        else:
            callbacks[variant] = []
        models[variant] = model
    return models, callbacks


def step_interleaved(models, callbacks, x, y, batch_size, steps):
    """Ratios per step against the neighbouring stock step; returns {variant: (ms, ratio)}."""
    lists = {}
    for variant in VARIANTS:
        models[variant]._make_train_function()
        lists[variant] = CallbackList(list(callbacks[variant]))
        lists[variant].set_model(models[variant])
        lists[variant].set_params({'epochs': 1, 'steps': steps, 'verbose': 0,
                                   'do_validation': False, 'metrics': ['loss']})
        lists[variant].on_train_begin()
        lists[variant].on_epoch_begin(0)
    n_batches = len(x) // batch_size
    times = {v: [] for v in VARIANTS}
    for step in range(steps + 3):
        start = (step % n_batches) * batch_size
        xb, yb = x[start:start + batch_size], y[start:start + batch_size]
        for variant in VARIANTS[step % 3:] + VARIANTS[:step % 3]:
            model, cbks = models[variant], lists[variant]
            t0 = time.perf_counter()
            cbks.on_batch_begin(step, {'batch': step, 'size': batch_size})
            loss = model.train_on_batch(xb, yb)
            cbks.on_batch_end(step, {'batch': step, 'size': batch_size, 'loss': loss})
            times[variant].append(time.perf_counter() - t0)
    for variant in VARIANTS:
        lists[variant].on_epoch_end(0, {})
        lists[variant].on_train_end()
    stock = np.array(times['stock'][3:])  # 3 warm-up steps (session callables)
    return {v: (1e3 * np.median(times[v][3:]), np.median(np.array(times[v][3:]) / stock))
            for v in VARIANTS}


def fit_interleaved(models, callbacks, x, y, batch_size, rounds):
    """Whole `fit` calls in turn; returns {variant: (ms, ratio, first step ms)}."""
    timer = StepTimer()
    medians = {v: [] for v in VARIANTS}
    firsts = {v: [] for v in VARIANTS}
    for r in range(rounds + 1):
        for variant in VARIANTS[r % 3:] + VARIANTS[:r % 3]:
            models[variant].fit(x, y, batch_size=batch_size, epochs=1, shuffle=True,
                                verbose=0, callbacks=callbacks[variant] + [timer])
            if r > 0:  # round 0 warms every variant up
                medians[variant].append(np.median(timer.steps()))
                firsts[variant].append(timer.first_step())
    n_batches = -(-len(x) // batch_size)
    # Sanity: the collectors really captured every batch of the last fit.
    assert len(callbacks['BatchPredictions'][0].records) == n_batches
    assert len(callbacks['seed recipe'][0].targets) == n_batches
    stock = np.array(medians['stock'])
    return {v: (1e3 * np.median(medians[v]), np.median(np.array(medians[v]) / stock),
                1e3 * np.median(firsts[v]))
            for v in VARIANTS}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--scale', type=float, default=1.,
                        help='multiplies each workload\'s steps and rounds (0.05: smoke run)')
    parser.add_argument('--fit-steps', type=int, default=8,
                        help='batches per fit in the fit-interleaved run')
    args = parser.parse_args(argv)
    print('keras %s, tensorflow %s, %d CPU(s), load average %.1f at start'
          % (__import__('keras').__version__, tf.__version__, os.cpu_count(),
             os.getloadavg()[0]))
    print()
    print('| workload | variant | step-interleaved: median step (ms) | ratio vs stock '
          '| fit-interleaved: median step (ms) | ratio vs stock | first step of a fit (ms) |')
    print('|---|---|---:|---:|---:|---:|---:|')
    for name, build, make_data, batch_size, steps, rounds in WORKLOADS:
        steps, rounds = max(3, int(steps * args.scale)), max(2, int(rounds * args.scale))
        K.clear_session()
        models, callbacks = build_variants(build)
        x, y = make_data(batch_size * args.fit_steps)
        by_step = step_interleaved(models, callbacks, x, y, batch_size, steps)
        by_fit = fit_interleaved(models, callbacks, x, y, batch_size, rounds)
        for variant in VARIANTS:
            print('| %s | %s | %.2f | %.3f | %.2f | %.3f | %.1f |'
                  % ((name, variant) + by_step[variant] + by_fit[variant]))
        sys.stdout.flush()
    print()
    print('load average at end %.1f' % os.getloadavg()[0])


if __name__ == '__main__':
    main()
