"""`PredictionSaver`: each epoch's validation predictions in an `.npz` file."""
from __future__ import absolute_import

import warnings

from keras.callbacks import Callback

from ..analysis.prediction_files import _is_scalar, save_predictions
from ..core.results import LOGS_KEY


class PredictionSaver(Callback):
    """Saves each epoch's validation predictions to an `.npz` file, atomically.

    Every file is complete or absent: a crash mid-write leaves the previous
    content of that path (and every other epoch's file) intact. Load with
    `load_predictions(path)`, or inspect with `keras-getpredict report path`.

    # Arguments
        filepath: path of each file; may hold `{epoch}` (1-based, like
            `ModelCheckpoint`) and any scalar logs key, e.g.
            `'preds/epoch_{epoch:03d}_{val_f1_macro:.3f}.npz'`.
        metrics: an `EpochMetrics` in the same callbacks list: its settings are
            stored, and its scalars reach the file's logs when it stands before
            the saver or has run from keras-getpredict's publisher hook.
        include_inputs: also store inputs captured with
            `get_predict={'inputs': [...]}`.

    # Attributes
        saved: paths written so far, in order.

    # Example
    ```python
    saver = PredictionSaver('run/preds/epoch_{epoch:03d}.npz', metrics)
    ```
    """

    def __init__(self, filepath, metrics=None, include_inputs=False):
        super(PredictionSaver, self).__init__()
        if metrics is not None and not callable(getattr(metrics, 'settings_for', None)):
            raise TypeError('`metrics` should be an `EpochMetrics` callback or None; got %s.'
                            % type(metrics).__name__)
        self.filepath = filepath
        self.metrics = metrics
        self.include_inputs = include_inputs
        self.saved = []
        self._warned = False

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        gts_and_preds = logs.get(LOGS_KEY)
        if gts_and_preds is None:
            if not self._warned:
                self._warned = True
                warnings.warn("PredictionSaver found no '%s' in the epoch logs; pass "
                              '`get_predict=True` and validation data.' % LOGS_KEY)
            return
        scalars = {k: v for k, v in logs.items() if _is_scalar(v)}
        try:
            path = self.filepath.format(epoch=epoch + 1, **scalars)
        except KeyError as e:
            raise ValueError('`filepath` %r names %s, which is not among the epoch\'s '
                             'scalar logs: epoch, %s.'
                             % (self.filepath, e, ', '.join(sorted(scalars))))
        save_predictions(path, gts_and_preds, epoch + 1, self.metrics, logs,
                         self.include_inputs)
        self.saved.append(path)
