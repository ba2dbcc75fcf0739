"""The segmentation models and data the reducing-mode benchmarks time.

- `light_segmenter`: `Conv2D(16, 3, relu) -> Conv2D(C, 1, softmax)`, the worst case
  for any per-pixel overhead (its forward pass is about as cheap as reading the output);
- `small_unet`: a U-Net of about 1.1 M parameters (widths 24-48-96-192, two 3x3
  convolutions per level, nearest upsampling and skip concatenation), the kind of
  model users of the reducing mode train.

Labels are one-hot float32 `(n, H, W, C)` (`categorical_crossentropy`) or integer
class ids `(n, H, W, 1)` uint8 (`sparse_categorical_crossentropy`).
"""
import numpy as np
from keras.layers import Conv2D, Input, MaxPooling2D, UpSampling2D, concatenate
from keras.models import Model

LOSSES = {'one_hot': 'categorical_crossentropy',
          'integer': 'sparse_categorical_crossentropy'}


def light_segmenter(size, classes):
    inputs = Input((size, size, 3))
    h = Conv2D(16, 3, padding='same', activation='relu')(inputs)
    return Model(inputs, Conv2D(classes, 1, activation='softmax')(h))


def small_unet(size, classes, widths=(24, 48, 96, 192)):
    x = inputs = Input((size, size, 3))
    skips = []
    for width in widths[:-1]:
        x = Conv2D(width, 3, padding='same', activation='relu')(x)
        x = Conv2D(width, 3, padding='same', activation='relu')(x)
        skips.append(x)
        x = MaxPooling2D()(x)
    x = Conv2D(widths[-1], 3, padding='same', activation='relu')(x)
    x = Conv2D(widths[-1], 3, padding='same', activation='relu')(x)
    for width, skip in zip(reversed(widths[:-1]), reversed(skips)):
        x = concatenate([UpSampling2D()(x), skip])
        x = Conv2D(width, 3, padding='same', activation='relu')(x)
        x = Conv2D(width, 3, padding='same', activation='relu')(x)
    return Model(inputs, Conv2D(classes, 1, activation='softmax')(x))


MODELS = {'light': light_segmenter, 'unet': small_unet}


def compiled(model_name, size, classes, labels):
    model = MODELS[model_name](size, classes)
    model.compile('sgd', LOSSES[labels])
    return model


def batch_pool(size, classes, labels, batch_size, count=4, seed=0):
    """`count` batches `(x, y)` that a generator cycles through, yielding the same
    arrays again (as generators that reuse their buffers do)."""
    rng = np.random.RandomState(seed)
    pool = []
    for _ in range(count):
        x = rng.rand(batch_size, size, size, 3).astype('float32')
        ids = rng.randint(0, classes, (batch_size, size, size))
        if labels == 'one_hot':
            y = np.eye(classes, dtype='float32')[ids]
        else:
            y = ids[..., None].astype('uint8')
        pool.append((x, y))
    return pool


def cycling(pool):
    while True:
        for item in pool:
            yield item
