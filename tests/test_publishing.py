"""The publisher both forms share: what it leaves in the epoch logs."""
from keras_getpredict.core.capture import BatchRecorder
from keras_getpredict.core.publishing import Publisher
from keras_getpredict.core.results import LOGS_KEY


def test_an_epoch_without_predictions_leaves_no_stale_entry():
    # Keras reuses one logs dict per epoch in places; the publisher must not let a
    # previous epoch's predictions pass for this one's.
    publisher = Publisher(BatchRecorder())
    logs = {'val_loss': 1.0, LOGS_KEY: {'y_true': [], 'y_pred': []}}
    publisher.on_epoch_end(0, logs)
    assert logs == {'val_loss': 1.0}
