"""segmentation-models 0.2.1 as a client: its README's script (a `Unet` with a ResNet
backbone, its own loss and metric, `model.fit` with validation data) on drawn shapes,
random weights, input shape `(None, None, 3)`. The script owns the `fit` call, so the
callbacks alone switch capture on. Runs in `nox -s libraries`; skipped where the
library is not installed."""
import numpy as np
import pytest

pytestmark = pytest.mark.libraries
pytest.importorskip('segmentation_models')

import keras_getpredict  # noqa: E402
from keras_getpredict.callbacks import EpochMetrics, ReduceMetrics  # noqa: E402
from support.library_clients import (CaptureRecorder, assert_y_pred_is_predict,  # noqa: E402
                                     draw_image, draw_label_map, one_hot)

SIZE = 32  # segmentation-models wants sides divisible by 32
CLASSES = ['background', 'rectangle', 'disc']
BACKBONE = 'resnet18'


def _drawn_set(count, seed):
    rng = np.random.RandomState(seed)
    labels = [draw_label_map(rng, SIZE) for _ in range(count)]
    images = [draw_image(rng, label) for label in labels]
    return (np.array(images, np.float32),
            np.array([one_hot(label, len(CLASSES)) for label in labels], np.float32))


def _model():
    # The README's lines, with random weights instead of ImageNet's and softmax classes.
    from segmentation_models import Unet
    from segmentation_models.backbones import get_preprocessing
    from segmentation_models.losses import cce_jaccard_loss
    from segmentation_models.metrics import iou_score

    model = Unet(BACKBONE, encoder_weights=None, classes=len(CLASSES), activation='softmax')
    model.compile('Adam', loss=cce_jaccard_loss, metrics=[iou_score])
    return model, get_preprocessing(BACKBONE)


def _model_and_data(val_samples):
    """The model, and drawn training and validation sets through its preprocessing."""
    keras_getpredict.install()
    model, preprocess_input = _model()
    x_train, y_train = _drawn_set(4, seed=0)
    x_val, y_val = _drawn_set(val_samples, seed=1)
    return model, preprocess_input(x_train), y_train, preprocess_input(x_val), y_val


def test_script_captures_exactly_and_epoch_metrics_reach_history():
    model, x_train, y_train, x_val, y_val = _model_and_data(4)
    recorder = CaptureRecorder(model.input_names[0])

    history = model.fit(x=x_train, y=y_train, batch_size=2, epochs=2, verbose=0,
                        validation_data=(x_val, y_val),
                        callbacks=[EpochMetrics(class_names=CLASSES), recorder])

    assert len(recorder.epochs) == 2
    for epoch in recorder.epochs:
        assert_y_pred_is_predict(epoch)
        # `fit` validates the arrays in order, two samples a batch.
        assert len(epoch['y_true']) == 2
        for batch, (inputs, y_true) in enumerate(zip(epoch['inputs'], epoch['y_true'])):
            np.testing.assert_array_equal(inputs, x_val[2 * batch:2 * batch + 2])
            np.testing.assert_array_equal(y_true, y_val[2 * batch:2 * batch + 2])
    for key in ('val_iou_score', 'val_accuracy', 'val_f1_macro', 'val_roc_auc_macro'):
        assert len(history.history[key]) == 2, key
    last = recorder.epochs[-1]
    pixels_right = (np.concatenate(last['y_true']).argmax(-1)
                    == np.concatenate(last['y_pred']).argmax(-1))
    np.testing.assert_allclose(history.history['val_accuracy'][-1], pixels_right.mean())


def test_reduce_metrics_equal_scikit_learn_on_the_trained_model():
    from sklearn.metrics import accuracy_score, jaccard_score

    model, x_train, y_train, x_val, y_val = _model_and_data(6)

    history = model.fit(x=x_train, y=y_train, batch_size=2, epochs=1, verbose=0,
                        validation_data=(x_val, y_val),
                        callbacks=[ReduceMetrics(class_names=CLASSES)]).history

    # The reducing mode keeps counts only; the weights are those of the last validation.
    y_true = y_val.argmax(-1).ravel()
    y_pred = model.predict(x_val, batch_size=2).argmax(-1).ravel()
    iou = jaccard_score(y_true, y_pred, labels=[0, 1, 2], average=None, zero_division=0)
    for name, expected in zip(CLASSES, iou):
        np.testing.assert_allclose(history['val_iou_%s' % name][-1], expected, rtol=1e-12)
    np.testing.assert_allclose(history['val_count_accuracy'][-1],
                               accuracy_score(y_true, y_pred), rtol=1e-12)
    assert 'val_gts_and_preds' not in history
