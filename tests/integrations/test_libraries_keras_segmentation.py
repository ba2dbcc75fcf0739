"""image-segmentation-keras 0.3.0 (`keras_segmentation`) as a client: its own `train()`,
unedited, reading drawn PNGs from disk, with capture switched on by a `capturing` block
(`train()` takes no callbacks). Runs in `nox -s libraries`; skipped where the library
is not installed."""
import os

import numpy as np
import pytest

pytestmark = pytest.mark.libraries
pytest.importorskip('keras_segmentation')

import keras_getpredict  # noqa: E402
from keras_getpredict.callbacks import EpochMetrics, ReduceMetrics  # noqa: E402
from support.library_clients import (CaptureRecorder, assert_y_pred_is_predict,  # noqa: E402
                                     matching_index, one_hot, write_segmentation_set)

SIZE = 32
CLASSES = ['background', 'rectangle', 'disc']
#: keras_segmentation's "sub_mean" normalisation: BGR means subtracted, then BGR -> RGB.
BGR_MEANS = np.array([103.939, 116.779, 123.68], np.float32)


def _as_fed(image):
    return (image.astype(np.float32) - BGR_MEANS)[:, :, ::-1]


def _folder(tmpdir, name, sub):
    return str(tmpdir.join(name, sub))


@pytest.mark.parametrize('multiprocessing', [False, True], ids=['thread', 'process'])
def test_train_unedited_captures_exactly_and_epoch_metrics_reach_history(
        tmpdir, multiprocessing):
    from keras_segmentation.models.unet import unet_mini

    write_segmentation_set(str(tmpdir.join('train')), 4, SIZE, seed=0)
    val_images, val_labels = write_segmentation_set(str(tmpdir.join('val')), 4, SIZE, seed=1)
    model = unet_mini(n_classes=len(CLASSES), input_height=SIZE, input_width=SIZE)
    recorder = CaptureRecorder(model.input_names[0])

    # The lines docs/libraries.md gives: train() as installed, inside the block.
    with keras_getpredict.capturing(callbacks=[EpochMetrics(class_names=CLASSES), recorder]):
        model.train(train_images=_folder(tmpdir, 'train', 'images'),
                    train_annotations=_folder(tmpdir, 'train', 'annotations'),
                    epochs=2, batch_size=2, steps_per_epoch=2, validate=True,
                    val_images=_folder(tmpdir, 'val', 'images'),
                    val_annotations=_folder(tmpdir, 'val', 'annotations'),
                    val_batch_size=2, val_steps_per_epoch=2,
                    gen_use_multiprocessing=multiprocessing)

    fed_inputs = [_as_fed(image) for image in val_images]
    assert len(recorder.epochs) == 2
    for epoch in recorder.epochs:
        assert epoch['output_names'] == model.output_names
        assert len(epoch['y_true']) == 2  # val_steps_per_epoch batches
        assert_y_pred_is_predict(epoch)
        for inputs, y_true in zip(epoch['inputs'], epoch['y_true']):
            assert y_true.shape == (2, SIZE * SIZE, len(CLASSES))
            for sample, truth in zip(inputs, y_true):
                drawn = matching_index(sample, fed_inputs)
                np.testing.assert_array_equal(
                    truth, one_hot(val_labels[drawn], len(CLASSES)).reshape(-1, len(CLASSES)))

    history = model.history.history
    assert 'val_gts_and_preds' not in history
    for key in ('val_accuracy', 'val_f1_macro', 'val_precision_macro', 'val_roc_auc_macro'):
        assert len(history[key]) == 2, key
    for epoch, accuracy, keras_accuracy in zip(recorder.epochs, history['val_accuracy'],
                                               history['val_acc']):
        y_true = np.concatenate(epoch['y_true']).argmax(-1)
        y_pred = np.concatenate(epoch['y_pred']).argmax(-1)
        np.testing.assert_allclose(accuracy, (y_true == y_pred).mean(), rtol=1e-12)
        # Keras' own batch-averaged pixel accuracy: the batches are the same size.
        np.testing.assert_allclose(accuracy, keras_accuracy, rtol=1e-6)


def test_train_without_validate_says_where_the_call_is(tmpdir):
    from keras_segmentation.models.unet import unet_mini

    write_segmentation_set(str(tmpdir.join('train')), 2, SIZE, seed=0)
    model = unet_mini(n_classes=len(CLASSES), input_height=SIZE, input_width=SIZE)
    with keras_getpredict.capturing(callbacks=[EpochMetrics(class_names=CLASSES)]):
        with pytest.raises(ValueError) as raised:
            model.train(train_images=_folder(tmpdir, 'train', 'images'),
                        train_annotations=_folder(tmpdir, 'train', 'annotations'),
                        epochs=1, batch_size=2, steps_per_epoch=1)
    message = str(raised.value)
    assert os.path.join('keras_segmentation', 'train.py') in message, message
    assert 'EpochMetrics' in message, message


def test_reduce_metrics_through_train_equal_scikit_learn(tmpdir):
    # keras_segmentation ends in Reshape((h * w, -1)): TensorFlow does not know the class
    # axis that Keras' shape gives, and the reducing mode counts on the graph all the same.
    from keras_segmentation.models.unet import unet_mini
    from sklearn.metrics import accuracy_score, jaccard_score

    write_segmentation_set(str(tmpdir.join('train')), 4, SIZE, seed=0)
    val_images, val_labels = write_segmentation_set(str(tmpdir.join('val')), 4, SIZE, seed=1)
    model = unet_mini(n_classes=len(CLASSES), input_height=SIZE, input_width=SIZE)
    assert model.output.shape.as_list()[-1] is None

    with keras_getpredict.capturing(callbacks=[ReduceMetrics(class_names=CLASSES)]):
        model.train(train_images=_folder(tmpdir, 'train', 'images'),
                    train_annotations=_folder(tmpdir, 'train', 'annotations'),
                    epochs=1, batch_size=2, steps_per_epoch=2, validate=True,
                    val_images=_folder(tmpdir, 'val', 'images'),
                    val_annotations=_folder(tmpdir, 'val', 'annotations'),
                    val_batch_size=2, val_steps_per_epoch=2)

    # Two batches of two: each validation image once (the generator cycles a shuffled
    # list), with the weights that predict now.
    history = model.history.history
    y_pred = model.predict(np.array([_as_fed(image) for image in val_images])).argmax(-1)
    y_true = np.array(val_labels).reshape(len(val_labels), -1)
    iou = jaccard_score(y_true.ravel(), y_pred.ravel(), labels=[0, 1, 2], average=None,
                        zero_division=0)
    for name, expected in zip(CLASSES, iou):
        np.testing.assert_allclose(history['val_iou_%s' % name], [expected], rtol=1e-12)
    np.testing.assert_allclose(history['val_count_accuracy'],
                               [accuracy_score(y_true.ravel(), y_pred.ravel())], rtol=1e-12)
