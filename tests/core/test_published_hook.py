"""The publisher both forms share: what it leaves in the epoch logs, and
`on_predictions_published`: callbacks that derive scalars from the predictions run
before every other user callback's `on_epoch_end`."""
import numpy as np
from support.stack import Callback

from keras_getpredict.core.recording import BatchRecorder
from keras_getpredict.core.publishing import Publisher
from keras_getpredict.core.results import LOGS_KEY
from support.models import frozen_dense


def _model():
    return frozen_dense(np.ones((2, 1)), name='out')


class _SumOfPredictions(Callback):
    """Puts the sum of the epoch's predictions into the logs from the hook."""

    def __init__(self):
        super(_SumOfPredictions, self).__init__()
        self.calls = []

    def on_predictions_published(self, epoch, logs):
        self.calls.append(epoch)
        logs['val_pred_sum'] = float(sum(np.sum(b) for b in logs['val_gts_and_preds']['y_pred']))


class _Seen(Callback):
    def __init__(self):
        super(_Seen, self).__init__()
        self.values = []

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        self.values.append(logs.get('val_pred_sum'))


def _batches(x, y, batch_size):
    while True:
        for i in range(0, len(x), batch_size):
            yield x[i:i + batch_size], y[i:i + batch_size]


def test_hook_runs_before_callbacks_listed_earlier_fit_generator(installed):
    x = np.arange(12, dtype='float32').reshape(6, 2)
    y = np.zeros((6, 1), 'float32')
    seen, hooked = _Seen(), _SumOfPredictions()
    _model().fit_generator(_batches(x, y, 4), steps_per_epoch=2, epochs=2, verbose=0,
                           validation_data=_batches(x, y, 4), validation_steps=2,
                           callbacks=[seen, hooked], get_predict=True)
    # Kernel of ones, lr 0: each prediction is the row sum; all 6 rows validated.
    assert hooked.calls == [0, 1]
    assert seen.values == [float(x.sum())] * 2


def test_hook_runs_before_callbacks_listed_earlier_fit(installed):
    x = np.arange(12, dtype='float32').reshape(6, 2)
    y = np.zeros((6, 1), 'float32')
    seen, hooked = _Seen(), _SumOfPredictions()
    _model().fit(x, y, batch_size=4, epochs=1, verbose=0, validation_data=(x, y),
                 callbacks=[seen, hooked], get_predict=True)
    assert seen.values == [float(x.sum())]


def test_hook_not_called_without_get_predict(installed):
    x = np.ones((4, 2), 'float32')
    hooked = _SumOfPredictions()
    _model().fit(x, np.zeros((4, 1)), epochs=1, verbose=0, validation_data=(x, np.zeros((4, 1))),
                 callbacks=[hooked])
    assert hooked.calls == []


def test_an_epoch_without_predictions_leaves_no_stale_entry():
    # Keras reuses one logs dict per epoch in places; the publisher must not let a
    # previous epoch's predictions pass for this one's.
    publisher = Publisher(BatchRecorder())
    logs = {'val_loss': 1.0, LOGS_KEY: {'y_true': [], 'y_pred': []}}
    publisher.on_epoch_end(0, logs)
    assert logs == {'val_loss': 1.0}
