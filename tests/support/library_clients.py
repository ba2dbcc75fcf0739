"""What the libraries tier's tests share (`nox -s libraries`, tests/test_libraries_*.py):
a callback that records each epoch's capture beside `model.predict` on the same batches,
and drawn shapes written as image files that a library reads itself.

The libraries are installed from the package index (`.nox/libraries`, pins in
constraints/libraries.txt) and run unedited, with random weights: nothing is downloaded.
"""
import os

import numpy as np
from keras.callbacks import Callback

from keras_getpredict.core.results import LOGS_KEY

#: Each class's colour in drawn images (BGR, as OpenCV writes them); class 0 is background.
PALETTE = np.array([[30, 30, 30], [40, 200, 60], [200, 60, 40]], np.uint8)


class CaptureRecorder(Callback):
    """Asks for every output and the named inputs, as keras-getpredict's callbacks ask
    (a `get_predict` attribute), and keeps each epoch's capture with what
    `model.predict_on_batch` gives for the captured inputs at that epoch's end."""

    def __init__(self, input_name):
        super(CaptureRecorder, self).__init__()
        self.input_name = input_name
        self.get_predict = {'outputs': True, 'inputs': [input_name]}
        self.epochs = []

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        preds = logs[LOGS_KEY]
        inputs = preds['inputs'][self.input_name]
        self.epochs.append({
            'output_names': list(preds.output_names),
            'y_true': preds['y_true'], 'y_pred': preds['y_pred'], 'inputs': inputs,
            'predicted': [self.model.predict_on_batch(x) for x in inputs]})


def assert_y_pred_is_predict(epoch):
    """Every captured batch's `y_pred` equals `model.predict_on_batch` of its inputs."""
    assert epoch['y_pred'], 'no validation batch was captured'
    for captured, predicted in zip(epoch['y_pred'], epoch['predicted']):
        if not isinstance(captured, list):
            captured, predicted = [captured], [predicted]
        assert len(captured) == len(predicted)
        for c, p in zip(captured, predicted):
            np.testing.assert_allclose(c, p, rtol=1e-5, atol=1e-6)


def matching_index(sample, candidates):
    """The index of the one candidate equal to `sample` (a captured input)."""
    found = [i for i, c in enumerate(candidates)
             if c.shape == sample.shape and np.array_equal(c, sample)]
    assert len(found) == 1, 'captured input matches %d of the drawn images' % len(found)
    return found[0]


def draw_label_map(rng, size):
    """A `size` x `size` label map: background 0, a rectangle of class 1 and a disc of
    class 2 at drawn places (the disc drawn last, over the rectangle)."""
    label = np.zeros((size, size), np.uint8)
    top, left = rng.randint(0, size // 2, 2)
    height, width = rng.randint(size // 4, size // 2, 2)
    label[top:top + height, left:left + width] = 1
    rows, cols = np.mgrid[:size, :size]
    cy, cx = rng.randint(size // 4, 3 * size // 4, 2)
    radius = rng.randint(size // 8, size // 4)
    label[(rows - cy) ** 2 + (cols - cx) ** 2 <= radius ** 2] = 2
    return label


def draw_image(rng, label):
    """The image of a label map: each class's colour plus noise, so that no two drawn
    images are alike."""
    noise = rng.randint(0, 40, label.shape + (3,))
    return (PALETTE[label] + noise).astype(np.uint8)


def write_segmentation_set(folder, count, size, seed):
    """`folder/images/*.png` and `folder/annotations/*.png` (the class id in every
    channel), the layout keras_segmentation reads. Returns `(images, label maps)` as
    drawn (images BGR, as OpenCV reads them back from PNG)."""
    import cv2
    rng = np.random.RandomState(seed)
    images, labels = [], []
    for sub in ('images', 'annotations'):
        os.makedirs(os.path.join(folder, sub))
    for i in range(count):
        label = draw_label_map(rng, size)
        image = draw_image(rng, label)
        name = 'drawn_%02d.png' % i
        assert cv2.imwrite(os.path.join(folder, 'images', name), image)
        assert cv2.imwrite(os.path.join(folder, 'annotations', name),
                           np.dstack([label] * 3))
        images.append(image)
        labels.append(label)
    return images, labels


def one_hot(label, num_classes):
    return np.eye(num_classes, dtype=np.float64)[label]
