"""One rank of a Horovod job, launched by test_horovod_run.py through `horovodrun`.

Each rank trains a fixed-weight model (lr=0, so y_pred = x @ KERNEL + BIAS by hand)
with `hvd.DistributedOptimizer`, validates its shard of VALIDATION with
`get_predict`, and saves what its logs held to `<out>/<case>_rank<r>.npz`.

    horovodrun --gloo -np 2 -H localhost:2 python tests/support/horovod_job.py even OUT 12

With `KERAS_GETPREDICT_STACK=tf.keras` the model is tf.keras' and Horovod's is
`horovod.tensorflow.keras`.
"""
from __future__ import print_function

import os
import sys
import warnings

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
os.environ.setdefault('KERAS_BACKEND', 'tensorflow')

import numpy as np  # noqa: E402

with warnings.catch_warnings():
    warnings.simplefilter('ignore', FutureWarning)
    import tensorflow as tf  # noqa: E402
    from keras_getpredict.core.families import tf_v1  # noqa: E402 (TF 1.12: no tf.compat.v1)
    tf_v1().logging.set_verbosity(tf_v1().logging.ERROR)
    # KERAS_GETPREDICT_STACK=tf.keras: the same job on TensorFlow's tf.keras, through
    # horovod.tensorflow.keras.
    STACK = os.environ.get('KERAS_GETPREDICT_STACK', 'keras')
    if STACK == 'tf.keras':
        from tensorflow import keras  # noqa: E402
        import horovod.tensorflow.keras as hvd  # noqa: E402
    else:
        import keras  # noqa: E402
        import horovod.keras as hvd  # noqa: E402

import keras_getpredict  # noqa: E402
from keras_getpredict import LOGS_KEY, concat_batches  # noqa: E402
from keras_getpredict.callbacks import EpochMetrics, ReduceMetrics  # noqa: E402

#: EpochMetrics keys compared with a single-process run.
METRIC_KEYS = ('val_accuracy', 'val_f1_macro', 'val_precision_weighted', 'val_roc_auc_macro')

KERNEL = np.array([[1.0, -2.0, 0.5], [3.0, 0.25, -1.0]], dtype=np.float32)
BIAS = np.array([0.5, -0.5, 0.0], dtype=np.float32)
BATCH = 3


def dataset(samples, seed=0):
    rng = np.random.RandomState(seed)
    x = rng.uniform(-1, 1, size=(samples, 2)).astype(np.float32)
    labels = rng.randint(0, 3, size=samples)
    return x, np.eye(3, dtype=np.float32)[labels]


def build_model(distributed=True):
    inputs = keras.layers.Input((2,), name='x')
    outputs = keras.layers.Dense(3, name='scores')(inputs)
    model = keras.models.Model(inputs, outputs)
    model.get_layer('scores').set_weights([KERNEL, BIAS])
    optimizer = keras.optimizers.SGD(lr=0.0)
    if distributed:
        optimizer = hvd.DistributedOptimizer(optimizer)
    model.compile(optimizer, 'mse', metrics=['acc'])
    return model


class Batches(keras.utils.Sequence):
    def __init__(self, x, y, batch_size=BATCH, steps=None):
        self.x, self.y, self.batch_size = x, y, batch_size
        self.steps = steps

    def __len__(self):
        return self.steps or -(-len(self.x) // self.batch_size)

    def __getitem__(self, i):
        s = slice(i * self.batch_size, (i + 1) * self.batch_size)
        return self.x[s], self.y[s]


class Keep(keras.callbacks.Callback):
    """Keeps what the logs held at each epoch end, or that they held nothing."""

    def __init__(self):
        super(Keep, self).__init__()
        self.epochs = []
        self.val_losses = []
        self.metrics = []
        self.count_accuracy = []

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        self.epochs.append(logs.get(LOGS_KEY))
        self.val_losses.append(logs.get('val_loss'))
        self.metrics.append([logs.get(key, np.nan) for key in METRIC_KEYS])
        self.count_accuracy.append(logs.get('val_count_accuracy', np.nan))


class ScoreSums(object):
    """A graph sum (`get_predict['sums']`): each class's score summed over the samples."""
    name = 'scores_sum'
    key = ('scores_sum',)
    shape = (3,)

    def tensor(self, model):
        return tf.reduce_sum(model.outputs[0], axis=0)


def flat_arrays(prefix, gts_and_preds):
    if gts_and_preds is None:
        return {prefix + 'absent': np.array(True)}
    flat = concat_batches(gts_and_preds)
    arrays = {prefix + 'y_true': flat['y_true'], prefix + 'y_pred': flat['y_pred'],
              prefix + 'batch_sizes': np.array([len(b) for b in gts_and_preds['y_pred']])}
    for name, value in flat.get('inputs', {}).items():
        arrays[prefix + 'input_' + name] = value
    return arrays


def shard(array, how):
    if how == 'strided':
        return array[hvd.rank()::hvd.size()]
    return np.array_split(array, hvd.size())[hvd.rank()]


def _error_of(call):
    try:
        call()
    except Exception as e:  # noqa: B902 - the job reports what each rank raised
        return '%s: %s' % (type(e).__name__, e)
    return ''


def fit_two_epochs(train, val, metrics, get_predict):
    """`fit_generator` with Horovod's usual callbacks (`MetricAverageCallback` reading
    every logs key) and `metrics`; the `Keep` of what the logs held."""
    keep = Keep()
    build_model().fit_generator(
        train, len(train), epochs=2, verbose=0, validation_data=val,
        validation_steps=len(val),
        callbacks=[hvd.callbacks.BroadcastGlobalVariablesCallback(0),
                   hvd.callbacks.MetricAverageCallback(), metrics, keep],
        get_predict=get_predict)
    return keep


def run_case(case, out, samples):
    x_val, y_val = dataset(samples, seed=1)
    x_train, y_train = dataset(4 * hvd.size(), seed=2)
    train = Batches(shard(x_train, 'contiguous'), shard(y_train, 'contiguous'))
    arrays = {}
    if case in ('even', 'uneven'):
        how = 'strided' if case == 'uneven' else 'contiguous'
        val = Batches(shard(x_val, how), shard(y_val, how))
        keep = fit_two_epochs(train, val, EpochMetrics(task='multiclass'),
                              {'inputs': ['x'], 'shards': how})
        for epoch, value in enumerate(keep.epochs):
            arrays.update(flat_arrays('fit_generator_%d_' % epoch, value))
        # After MetricAverageCallback: the mean of the ranks' validation losses.
        arrays['fit_generator_val_loss'] = np.array(keep.val_losses, dtype=np.float64)
        arrays['fit_generator_metrics'] = np.array(keep.metrics, dtype=np.float64)
        # fit on arrays, gathered on rank 0 only.
        keep = Keep()
        build_model().fit(
            train.x, train.y, batch_size=BATCH, epochs=1, verbose=0,
            validation_data=(val.x, val.y), callbacks=[keep],
            get_predict={'gather': 'root', 'shards': how})
        arrays.update(flat_arrays('fit_root_', keep.epochs[0]))
        # evaluate_generator: own shard by default, gathered when asked.
        model = build_model()
        _, own = model.evaluate_generator(val, len(val), get_predict=True)
        arrays.update(flat_arrays('evaluate_own_', own))
        _, gathered = model.evaluate_generator(
            val, len(val), get_predict={'gather': 'all', 'shards': how})
        arrays.update(flat_arrays('evaluate_all_', gathered))
        # evaluate on arrays, gathered when asked.
        _, gathered = model.evaluate(val.x, val.y, batch_size=BATCH, verbose=0,
                                     get_predict={'gather': 'all', 'shards': how})
        arrays.update(flat_arrays('evaluate_arrays_all_', gathered))
    elif case == 'counts':
        # Reducing mode: uneven contiguous shards, so the ranks validate different
        # numbers of steps; one allreduce-sum of fixed-shape counts needs no match.
        val = Batches(shard(x_val, 'contiguous'), shard(y_val, 'contiguous'))
        # ReduceMetrics' keys, from the summed counts, averaged by Horovod too.
        keep = fit_two_epochs(train, val, ReduceMetrics(num_classes=3, per_class=False),
                              {'reduce': {'num_classes': 3, 'bins': 10}})
        arrays['fit_generator_count_accuracy'] = np.array(keep.count_accuracy)
        for epoch, counts in enumerate(keep.epochs):
            for field in ('confusion', 'positives', 'negatives'):
                arrays['fit_generator_%d_%s' % (epoch, field)] = getattr(
                    counts['scores'], field)
            arrays['fit_generator_%d_batches' % epoch] = np.array(counts.batches)
        model = build_model()
        _, own = model.evaluate_generator(
            val, len(val), get_predict={'reduce': {'num_classes': 3, 'on_graph': True}})
        arrays['evaluate_own_confusion'] = own['scores'].confusion
        _, summed = model.evaluate_generator(val, len(val), get_predict={
            'reduce': {'num_classes': 3, 'on_graph': True}, 'gather': 'all'})
        arrays['evaluate_all_confusion'] = summed['scores'].confusion
    elif case == 'sums':
        # Graph sums alone over uneven contiguous shards: different numbers of steps.
        val = Batches(shard(x_val, 'contiguous'), shard(y_val, 'contiguous'))
        keep = fit_two_epochs(train, val, Keep(), {'sums': [ScoreSums()]})
        for epoch, value in enumerate(keep.epochs):
            arrays['fit_generator_%d_sums' % epoch] = value['sums']['scores_sum']
            arrays['fit_generator_%d_batches' % epoch] = np.array(value['sums'].batches)
            arrays['fit_generator_%d_kept' % epoch] = np.array(len(value['y_pred']))
    elif case in ('counts_bins', 'counts_mode', 'counts_classes', 'counts_some_ranks'):
        # Reducing mode asked differently on rank 1: other `bins` (the sums could not
        # match), predictions gathered instead of counts, another `num_classes` (refused
        # on that rank, whose output has 3 units), or no `get_predict` at all.
        val = Batches(shard(x_val, 'contiguous'), shard(y_val, 'contiguous'))
        get_predict = {'reduce': {'num_classes': 3, 'bins': 10}}
        if hvd.rank() == 1:
            get_predict = {'counts_bins': {'reduce': {'num_classes': 3, 'bins': 20}},
                           'counts_mode': True,
                           'counts_classes': {'reduce': {'num_classes': 4, 'bins': 10}},
                           'counts_some_ranks': False}[case]
        arrays['error'] = np.array(_error_of(lambda: build_model().fit_generator(
            train, len(train), epochs=2, verbose=0, validation_data=val,
            validation_steps=len(val), callbacks=[hvd.callbacks.MetricAverageCallback()],
            get_predict=get_predict)))
        if case in ('counts_bins', 'counts_mode'):
            # Both raised at the same epoch end: still in step for one more collective.
            arrays['after'] = np.array(hvd.allreduce(np.array([1.0]), average=False))
    elif case == 'steps':
        # Rank 0 validates one batch more than the others.
        val = Batches(x_val, y_val, steps=3 if hvd.rank() == 0 else 2)
        try:
            build_model().fit_generator(train, len(train), epochs=1, verbose=0,
                                        validation_data=val, validation_steps=len(val),
                                        get_predict=True)
            arrays['error'] = np.array('')
        except ValueError as e:
            arrays['error'] = np.array(str(e))
        # The ranks are still in step: one more collective completes.
        arrays['after'] = np.array(hvd.allreduce(np.array([1.0]), average=False))
    elif case == 'some_ranks':
        # `get_predict` on rank 0 only: rank 0 waits in the gather, the others in the
        # next epoch's gradient allreduce. Rank 0 gives up after the timeout; its
        # Horovod shutdown then fails the others' collective.
        val = Batches(x_val, y_val)
        arrays['error'] = np.array(_error_of(lambda: build_model().fit_generator(
            train, len(train), epochs=2, verbose=0, validation_data=val,
            validation_steps=len(val), get_predict=hvd.rank() == 0)))
    elif case == 'root_metrics':
        # Gathered to rank 0, EpochMetrics there only, MetricAverageCallback on every rank.
        val = Batches(shard(x_val, 'contiguous'), shard(y_val, 'contiguous'))
        callbacks = [hvd.callbacks.MetricAverageCallback()]
        if hvd.rank() == 0:
            callbacks.append(EpochMetrics(task='multiclass'))
        arrays['error'] = np.array(_error_of(lambda: build_model().fit_generator(
            train, len(train), epochs=1, verbose=0, validation_data=val,
            validation_steps=len(val), callbacks=callbacks, get_predict={'gather': 'root'})))
        arrays['after'] = np.array(hvd.allreduce(np.array([1.0]), average=False))
    else:
        raise SystemExit('unknown case %r' % case)
    np.savez(os.path.join(out, '%s_rank%d.npz' % (case, hvd.rank())), **arrays)


if __name__ == '__main__':
    hvd.init()
    keras_getpredict.install(target=STACK)
    run_case(sys.argv[1], sys.argv[2], int(sys.argv[3]))
