"""On a GPU, get_predict (and the training-batch collector) give what they give on the CPU.

Run where TensorFlow sees a CUDA GPU, e.g. `docker/run-tests.sh cuda10|ngc`; elsewhere
every test here is skipped, saying why. The same small conv net with fixed weights is
built twice, its ops placed on `/cpu:0` and then on `/gpu:0`; cuDNN's convolutions may
differ from the CPU's in the last bits, hence the tolerances. Training runs with lr=0:
gradient sums are not deterministic (CPU threads, cuDNN atomics), and the test is about
what is captured, not about training.
"""
import os

import numpy as np
import pytest
import tensorflow as tf
from support.stack import K, Callback, Conv2D, Dense, Flatten, Input, Model, SGD, Sequence

import keras_getpredict


def _visible_gpus():
    try:
        return tf.config.experimental.list_physical_devices('GPU')
    except Exception:  # noqa: BLE001 -- a broken CUDA setup must skip, not crash collection
        return []


GPUS = _visible_gpus()
NO_GPU_REASON = ('no CUDA GPU visible to TensorFlow %s (built with CUDA: %s, '
                 'CUDA_VISIBLE_DEVICES=%r); run docker/run-tests.sh on a GPU machine'
                 % (tf.__version__, tf.test.is_built_with_cuda(),
                    os.environ.get('CUDA_VISIBLE_DEVICES')))
pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not GPUS, reason=NO_GPU_REASON),
              pytest.mark.usefixtures('installed')]

N_CLASSES = 5


class Images(Sequence):
    def __init__(self, x, y, batch_size):
        self.x, self.y, self.batch_size = x, y, batch_size

    def __len__(self):
        return int(np.ceil(len(self.x) / float(self.batch_size)))

    def __getitem__(self, i):
        s = slice(i * self.batch_size, (i + 1) * self.batch_size)
        return self.x[s], self.y[s]


def images(n, seed):
    rng = np.random.RandomState(seed)
    x = rng.uniform(0, 1, size=(n, 8, 8, 3)).astype('float32')
    y = np.eye(N_CLASSES, dtype='float32')[rng.randint(0, N_CLASSES, size=n)]
    return x, y


def conv_net(lr):
    inputs = Input((8, 8, 3), name='image')
    hidden = Conv2D(4, 3, padding='same', activation='relu', name='conv')(inputs)
    outputs = Dense(N_CLASSES, activation='softmax', name='probs')(Flatten()(hidden))
    model = Model(inputs, outputs)
    rng = np.random.RandomState(42)
    model.set_weights([rng.normal(scale=0.3, size=w.shape).astype('float32')
                       for w in model.get_weights()])
    model.compile(SGD(lr=lr), 'categorical_crossentropy', metrics=['acc'])
    return model


class EpochPredictions(Callback):
    def __init__(self):
        super(EpochPredictions, self).__init__()
        self.per_epoch = []

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        self.per_epoch.append(keras_getpredict.concat_batches(logs[keras_getpredict.LOGS_KEY]))


def run_on(device, extra_callbacks=()):
    """Evaluates and trains (lr=0, so every pass sees the same weights) on `device`."""
    K.clear_session()
    x, y = images(40, seed=0)
    vx, vy = images(22, seed=1)
    with tf.device(device):
        model = conv_net(lr=0.)
        assert device.upper().replace('/', '').split(':')[0] in model.output.op.device.upper()
        metrics, preds = model.evaluate_generator(Images(vx, vy, 8), get_predict=True)
        epochs = EpochPredictions()
        history = model.fit_generator(Images(x, y, 8), epochs=2, verbose=0, shuffle=False,
                                      validation_data=Images(vx, vy, 8), get_predict=True,
                                      callbacks=[epochs] + list(extra_callbacks))
    return {'metrics': metrics, 'preds': keras_getpredict.concat_batches(preds),
            'epochs': epochs.per_epoch, 'val_loss': history.history['val_loss'], 'vy': vy}


def assert_same_predictions(cpu, gpu):
    np.testing.assert_array_equal(cpu['y_true'], gpu['y_true'])
    np.testing.assert_allclose(cpu['y_pred'], gpu['y_pred'], rtol=1e-4, atol=1e-5)


def test_get_predict_on_gpu_matches_cpu():
    cpu = run_on('/cpu:0')
    gpu = run_on('/gpu:0')
    np.testing.assert_allclose(cpu['metrics'], gpu['metrics'], rtol=1e-4, atol=1e-5)
    np.testing.assert_array_equal(gpu['preds']['y_true'], gpu['vy'])
    assert_same_predictions(cpu['preds'], gpu['preds'])
    assert len(cpu['epochs']) == len(gpu['epochs']) == 2
    for cpu_epoch, gpu_epoch in zip(cpu['epochs'], gpu['epochs']):
        assert_same_predictions(cpu_epoch, gpu_epoch)
    np.testing.assert_allclose(cpu['val_loss'], gpu['val_loss'], rtol=1e-4)
    # Same weights: each epoch's validation predictions are evaluate_generator's.
    for gpu_epoch in gpu['epochs']:
        np.testing.assert_allclose(gpu_epoch['y_pred'], gpu['preds']['y_pred'], rtol=1e-5)


@pytest.mark.skipif(not hasattr(keras_getpredict, 'BatchPredictions'),
                    reason='keras_getpredict.BatchPredictions (the training-batch '
                           'collector) is not in this build')
def test_training_batch_collector_on_gpu_matches_cpu():
    results = []
    for device in ('/cpu:0', '/gpu:0'):
        collector = keras_getpredict.BatchPredictions(keep='all')
        results.append((run_on(device, [collector]), collector))
    (_, cpu), (_, gpu) = results
    assert len(cpu.records) == len(gpu.records) == 2 * 5
    for a, b in zip(cpu.records, gpu.records):
        assert (a['epoch'], a['batch']) == (b['epoch'], b['batch'])
        assert_same_predictions(a, b)
