"""Keras 2.3.1: forked `Sequence` workers stall while the session is brand new.

What docs/versions.md reports, reproduced with stock Keras: `fit_generator` with a
`Sequence`, `workers=2`, `use_multiprocessing=True`, after an earlier model and
`K.clear_session()`. Each variant runs in a fresh process and prints the seconds each
training batch and each validation took, per epoch.

    python benchmarks/keras23_worker_stall.py            # every variant: a markdown table
    python benchmarks/keras23_worker_stall.py stock      # one variant: one JSON line

The `stock*` variants never import keras_getpredict; `installed` calls
`keras_getpredict.install()` and trains as stock does; `get_predict` passes
`get_predict=True` too (run it against this checkout with `PYTHONPATH=.`).

Why (seen with py-spy on the stalled workers): Keras 2.3 takes its session from tf.keras'
backend, which keeps it in a `threading.local` of the main thread, and its
`OrderedEnqueuer` forks the worker pool from its own thread. In the forked child Python
drops the other threads' thread-locals, so a session that nothing else references yet (a
new one: the first model of a process, or the first after `K.clear_session()`, until its
first batch runs) is closed there, and TensorFlow's thread pool destructor waits for
threads the child does not have. Every batch then waits Keras' 30 s timeout before the
main thread reads it itself. Keras 2.2.4 keeps the session in a module global: no stall.
"""
from __future__ import print_function

import json
import os
import subprocess
import sys
import time
import warnings

#: name -> what the variant does differently from `stock`.
VARIANTS = [
    ('stock', 'an earlier model, `K.clear_session()`, then the timed model'),
    ('stock_first_model', 'the timed model is the process\'s first (no `clear_session`)'),
    ('stock_session_kept', '`session = K.get_session()` kept before `fit_generator`'),
    ('stock_threads', '`use_multiprocessing=False` (2 threads)'),
    ('stock_workers_0', '`workers=0`'),
    ('installed', '`keras_getpredict.install()`, no `get_predict`'),
    ('get_predict', '`install()` and `get_predict=True`'),
    ('get_predict_session_kept', '`get_predict=True`, session kept'),
]
TRAIN_BATCHES, VALIDATION_BATCHES, EPOCHS = 3, 1, 2


def run(variant):
    if variant not in dict(VARIANTS):
        raise SystemExit('unknown variant %r; one of %s' % (variant, [v for v, _ in VARIANTS]))
    os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
    warnings.simplefilter('ignore')
    import numpy as np
    import keras
    from keras import backend as K

    class Batches(keras.utils.Sequence):
        def __init__(self, n):
            self.n = n

        def __len__(self):
            return self.n

        def __getitem__(self, i):
            rng = np.random.RandomState(i)
            return (rng.uniform(size=(8, 4)).astype('float32'),
                    np.eye(3, dtype='float32')[rng.randint(0, 3, 8)])

    class Clock(keras.callbacks.Callback):
        """Seconds per training batch (from the previous batch's end, or the epoch's
        start) and for the validation (from the last batch's end to the epoch's end)."""

        def __init__(self):
            super(Clock, self).__init__()
            self.epochs = []

        def on_epoch_begin(self, epoch, logs=None):
            self.last = time.time()
            self.epochs.append({'batches': []})

        def on_batch_end(self, batch, logs=None):
            now = time.time()
            self.epochs[-1]['batches'].append(round(now - self.last, 2))
            self.last = now

        def on_epoch_end(self, epoch, logs=None):
            self.epochs[-1]['validation'] = round(time.time() - self.last, 2)

    def model():
        inputs = keras.layers.Input((4,))
        outputs = keras.layers.Dense(3, activation='softmax')(inputs)
        built = keras.models.Model(inputs, outputs)
        built.compile('sgd', 'categorical_crossentropy')
        return built

    extra = {}
    if variant in ('installed', 'get_predict', 'get_predict_session_kept'):
        import keras_getpredict
        keras_getpredict.install()
        if variant != 'installed':
            extra['get_predict'] = True
    if variant != 'stock_first_model':
        # An earlier model in the same process, trained without workers.
        model().fit_generator(Batches(2), 2, epochs=1, verbose=0, workers=0)
        K.clear_session()
    timed = model()
    workers, processes = 2, True
    if variant == 'stock_threads':
        processes = False
    if variant == 'stock_workers_0':
        workers = 0
    if variant.endswith('session_kept'):
        # The workaround: a reference the forked child does not drop.
        session = K.get_session()  # noqa: F841
    clock = Clock()
    timed.fit_generator(Batches(TRAIN_BATCHES), TRAIN_BATCHES, epochs=EPOCHS, verbose=0,
                        workers=workers, use_multiprocessing=processes,
                        validation_data=Batches(VALIDATION_BATCHES), callbacks=[clock],
                        **extra)
    return {'variant': variant, 'keras': keras.__version__,
            'imported_keras_getpredict': 'keras_getpredict' in sys.modules,
            'epochs': clock.epochs}


def table():
    print('| variant | keras_getpredict imported | epoch 1: batches, validation (s) | '
          'epoch 2: batches, validation (s) |')
    print('|---|---|---|---|')
    for name, what in VARIANTS:
        line = subprocess.check_output([sys.executable, __file__, name]).decode().strip()
        result = json.loads(line.splitlines()[-1])
        cells = ['%s; %s' % (', '.join('%g' % b for b in epoch['batches']),
                             '%g' % epoch['validation']) for epoch in result['epochs']]
        print('| `%s`: %s | %s | %s |' % (name, what,
                                          'yes' if result['imported_keras_getpredict'] else 'no',
                                          ' | '.join(cells)), flush=True)
    print('\nKeras %s; %d training batches and %d validation batch per epoch.'
          % (result['keras'], TRAIN_BATCHES, VALIDATION_BATCHES))


if __name__ == '__main__':
    if len(sys.argv) > 1:
        print(json.dumps(run(sys.argv[1])))
    else:
        table()
