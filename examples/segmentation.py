"""Per-pixel segmentation with validation metrics in constant memory.

Synthetic 32x32 images drawn here (no download): a noisy background (class 0) with a
disc (class 1) and a square (class 2). A tiny fully convolutional net trains for a few
epochs; `get_predict={'reduce': ...}` folds each validation batch into a confusion
matrix and score histograms, and `ReduceMetrics` puts per-class IoU, Dice and ROC
AUC into the epoch logs, so `History` and `TensorBoard` have them.

    python examples/segmentation.py [--epochs 5] [--logdir /tmp/seg_logs]
"""
from __future__ import print_function

import argparse

import numpy as np
from keras.callbacks import TensorBoard
from keras.layers import Conv2D, Input
from keras.models import Model

import keras_getpredict
from keras_getpredict.callbacks import ReduceMetrics

keras_getpredict.install()

SIZE, CLASSES, BATCH = 32, 3, 16
CLASS_NAMES = ['background', 'disc', 'square']


def draw(rng, n):
    """`n` images `(n, 32, 32, 1)` and integer masks `(n, 32, 32, 1)`."""
    images = rng.normal(0., 0.3, (n, SIZE, SIZE, 1)).astype('float32')
    masks = np.zeros((n, SIZE, SIZE, 1), 'uint8')
    rows, cols = np.mgrid[:SIZE, :SIZE]
    for i in range(n):
        r, cy, cx = rng.randint(4, 8), rng.randint(8, 24), rng.randint(8, 24)
        disc = (rows - cy) ** 2 + (cols - cx) ** 2 <= r * r
        side, y0, x0 = rng.randint(5, 10), rng.randint(0, 22), rng.randint(0, 22)
        square = np.zeros_like(disc)
        square[y0:y0 + side, x0:x0 + side] = True
        masks[i, disc, 0] = 1
        masks[i, square, 0] = 2  # the square is drawn over the disc
        images[i, disc & ~square, 0] += 1.
        images[i, square, 0] += 2.
    return images, masks


def batches(images, masks):
    while True:
        for i in range(0, len(images), BATCH):
            yield images[i:i + BATCH], masks[i:i + BATCH]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--epochs', type=int, default=5)
    parser.add_argument('--logdir', default=None, help='TensorBoard log directory')
    args = parser.parse_args()
    rng = np.random.RandomState(0)
    train, val = draw(rng, 256), draw(rng, 64)

    x = Input((SIZE, SIZE, 1))
    h = Conv2D(16, 3, padding='same', activation='relu')(x)
    h = Conv2D(16, 3, padding='same', activation='relu')(h)
    y = Conv2D(CLASSES, 1, activation='softmax', name='mask')(h)
    model = Model(x, y)
    model.compile('adam', 'sparse_categorical_crossentropy')

    callbacks = [ReduceMetrics(class_names=CLASS_NAMES)]
    if args.logdir:
        callbacks.append(TensorBoard(args.logdir))
    history = model.fit_generator(
        batches(*train), steps_per_epoch=len(train[0]) // BATCH, epochs=args.epochs,
        validation_data=batches(*val), validation_steps=len(val[0]) // BATCH,
        callbacks=callbacks, verbose=0,
        get_predict={'reduce': {'num_classes': CLASSES, 'bins': 200}})
    for epoch in range(args.epochs):
        logs = dict((k, v[epoch]) for k, v in history.history.items())
        print('epoch %d: val_loss %.3f  mean IoU %.3f  ' % (
            epoch + 1, logs['val_loss'], logs['val_mean_iou']) + '  '.join(
            'IoU %s %.3f' % (name, logs['val_iou_' + name]) for name in CLASS_NAMES))

    _, counts = model.evaluate_generator(
        batches(*val), steps=len(val[0]) // BATCH,
        get_predict={'reduce': {'num_classes': CLASSES}})
    print('confusion matrix over %d validation pixels (rows: true class):'
          % counts['mask'].samples)
    print(counts['mask'].confusion)


if __name__ == '__main__':
    main()
