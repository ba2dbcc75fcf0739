"""`PredictionSaver`: each epoch's validation predictions in an `.npz` file."""
from __future__ import absolute_import

import string

import six

from ..analysis.files import save_predictions
from ..core.failures import ConfigurationError, ConfigurationTypeError
from ..core.logs_filters import is_scalar
from .predictions_callback import PredictionsCallback


def _template_fields(filepath):
    """The field names of the `str.format` template `filepath`.

    # Raises
        ValueError: In case it is no valid template or has a positional field.
    """
    formatter = string.Formatter()
    try:
        parsed = [(name, spec) for _, name, spec, _ in formatter.parse(filepath)
                  if name is not None]
        for name, spec in parsed:
            if name == 'epoch':
                formatter.format_field(1, spec)
    except ValueError as e:
        raise ConfigurationError(
            '`filepath` %r is no valid `str.format` template: %s.' % (filepath, e))
    fields = [name for name, _ in parsed]
    if any(not name or name[0].isdigit() for name in fields):
        raise ConfigurationError(
            '`filepath` %r has a positional field; name each one, as in '
            "'epoch_{epoch:03d}_{val_f1_macro:.3f}.npz'." % filepath)
    return fields


class PredictionSaver(PredictionsCallback):
    """Saves each epoch's validation predictions to an `.npz` file, atomically.

    Every file is complete or absent: a crash mid-write leaves the previous
    content of that path (and every other epoch's file) intact. Load with
    `load_predictions(path)`, or inspect with `keras-getpredict report path`.

    It saves whatever the call captures, full predictions or the reducing mode's
    counts; when nothing else in the call asks for capture (see
    `PredictionsCallback`), it asks for every output in full
    (`fallback_get_predict`).

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
        fallback_get_predict: `True`: full capture when nothing else asks.

    # Raises
        TypeError: In case `filepath` is not a string or `metrics` not an
            `EpochMetrics`.
        ValueError: In case `filepath` is no valid template (at construction),
            or names a key the first epoch's logs do not hold. Later, an error
            while saving warns once and training goes on (see `core/failures.py`).

    # Example
    ```python
    saver = PredictionSaver('run/preds/epoch_{epoch:03d}.npz', metrics)
    ```
    """

    def __init__(self, filepath, metrics=None, include_inputs=False):
        super(PredictionSaver, self).__init__()
        if not isinstance(filepath, six.string_types):
            raise ConfigurationTypeError(
                '`filepath` should be a string (a path, may hold `{epoch}`); '
                'got %r.' % (filepath,))
        _template_fields(filepath)
        if metrics is not None and not callable(getattr(metrics, 'settings_for', None)):
            raise ConfigurationTypeError(
                '`metrics` should be an `EpochMetrics` callback or None; got %s.'
                % type(metrics).__name__)
        self.filepath = filepath
        self.metrics = metrics
        self.include_inputs = include_inputs
        self.saved = []
        # It saves whatever the call captures (predictions or the reducing mode's
        # counts); when nothing else asks, it asks for full capture.
        self.fallback_get_predict = True

    def path_for(self, epoch, logs):
        """The file path of `epoch` (0-based, as Keras counts) with these logs.

        # Raises
            ValueError: In case the template names a key that is not a scalar
                of `logs`, or a format that does not fit its value.
        """
        scalars = {k: v for k, v in logs.items() if is_scalar(v)}
        try:
            return self.filepath.format(epoch=epoch + 1, **scalars)
        except KeyError as e:
            raise ValueError('`filepath` %r names %s, which is not among the epoch\'s '
                             'scalar logs: epoch, %s.'
                             % (self.filepath, e, ', '.join(sorted(scalars))))
        except (ValueError, IndexError, AttributeError) as e:
            raise ValueError('`filepath` %r does not format with the epoch\'s logs: %s.'
                             % (self.filepath, e))

    def validate(self, epoch, logs):
        self.path_for(epoch, logs)

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        gts_and_preds = self.predictions_in(logs)
        if gts_and_preds is None:
            return
        self.validate_once(epoch, logs)
        path = self.run_analysis('saving the predictions of epoch %d' % (epoch + 1),
                                 self._save, epoch, logs, gts_and_preds)
        if path is not None:
            self.saved.append(path)

    def _save(self, epoch, logs, gts_and_preds):
        return save_predictions(self.path_for(epoch, logs), gts_and_preds, epoch + 1,
                                self.metrics, logs, self.include_inputs)
