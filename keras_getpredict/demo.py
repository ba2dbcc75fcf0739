"""The demo: a small CNN on scikit-learn's bundled 8x8 digits, trained the way Keras
2.2.4 users train (`ImageDataGenerator` + `fit_generator`, `TensorBoard` first in the
callbacks, `ModelCheckpoint`), with `EpochMetrics` asking for the validation
predictions that feed per-class metrics, TensorBoard PR curves and confusion matrices,
and per-epoch prediction files.

Run it with `make demo`, `keras-getpredict demo` or `python -m keras_getpredict`. It sits
beside `__main__.py`, not in `analysis/`: it trains (Keras, the callbacks), while
`analysis/` holds the numbers, pictures and files and imports neither.
"""
from __future__ import absolute_import

import os
import time
from collections import OrderedDict

import numpy as np

from .analysis.optional_deps import optional_module

DEFAULT_EPOCHS = 10
# What the demo's curves show on the right (the rest is in history.csv and TensorBoard).
CURVE_METRICS = ('acc', 'val_acc', 'val_f1_macro', 'val_precision_macro', 'val_recall_macro',
                 'val_roc_auc_macro')


def load_digits_split(validation_fraction=0.25, seed=0):
    """scikit-learn's digits (bundled with it, no download) as `(n, 8, 8, 1)` floats in
    [0, 1] with one-hot labels, split into train and validation, stratified."""
    digits = optional_module('sklearn.datasets').load_digits()
    x = (digits.images / 16.0).astype('float32')[..., None]
    y = np.eye(10, dtype='float32')[digits.target]
    x_train, x_val, y_train, y_val = optional_module('sklearn.model_selection').train_test_split(
        x, y, test_size=validation_fraction, random_state=seed, stratify=digits.target)
    return (x_train, y_train), (x_val, y_val)


def build_model():
    """Two small convolutions and a softmax over the 10 digits."""
    from keras.layers import Conv2D, Dense, Dropout, Flatten, Input, MaxPooling2D
    from keras.models import Model
    from keras.optimizers import Adam
    image = Input((8, 8, 1), name='image')
    x = Conv2D(16, 3, padding='same', activation='relu')(image)
    x = Conv2D(32, 3, padding='same', activation='relu')(x)
    x = MaxPooling2D(2)(x)
    x = Flatten()(x)
    x = Dropout(0.25)(x)
    x = Dense(64, activation='relu')(x)
    digit = Dense(10, activation='softmax', name='digit')(x)
    model = Model(image, digit)
    # 'acc': Keras logs it as `acc`/`val_acc` on 2.2 and 2.3 alike ('accuracy' is
    # logged as `val_accuracy` on 2.3, which is EpochMetrics' own key).
    model.compile(Adam(lr=2e-3), 'categorical_crossentropy', metrics=['acc'])
    return model


def default_run_dir():
    return os.path.join('runs', time.strftime('demo-%Y%m%d-%H%M%S'))


def run_demo(run_dir=None, epochs=DEFAULT_EPOCHS, steps_per_epoch=None, batch_size=32,
             verbose=1, seed=0):
    """Trains the demo model and writes its run folder.

    # Arguments
        run_dir: folder for everything the run writes; default `runs/demo-<time>`.
        epochs: number of epochs.
        steps_per_epoch: training batches per epoch; default one pass over the
            training images.
        batch_size: images per batch.
        verbose: 1 shows Keras' progress bar and the per-class table each epoch.
        seed: seed for the split, the weights and the augmentation.

    # Returns
        An `OrderedDict` of what was written (`run_dir`, `tensorboard`,
        `checkpoint`, `history_csv`, `predictions` (list), `plots` (list)) plus
        `history` (the `History.history` dict) and `seconds`.
    """
    start = time.time()
    from keras.callbacks import CSVLogger, ModelCheckpoint, TensorBoard
    from keras.preprocessing.image import ImageDataGenerator

    import keras_getpredict
    from .analysis import plots
    from .analysis.report import report
    from .callbacks import EpochMetrics, PredictionSaver, TensorBoardPredictions

    run_dir = run_dir or default_run_dir()
    tensorboard_dir = os.path.join(run_dir, 'tensorboard')
    plots_dir = os.path.join(run_dir, 'plots')
    for folder in (tensorboard_dir, plots_dir, os.path.join(run_dir, 'predictions')):
        if not os.path.isdir(folder):
            os.makedirs(folder)

    np.random.seed(seed)
    from .core.families import tf_v1
    tf_v1().set_random_seed(seed)
    (x_train, y_train), (x_val, y_val) = load_digits_split(seed=seed)
    # One-pixel shifts and small rotations: 8x8 digits do not survive more.
    augment = ImageDataGenerator(rotation_range=10, width_shift_range=1,
                                 height_shift_range=1, zoom_range=0.1,
                                 fill_mode='constant', cval=0.0)
    train_flow = augment.flow(x_train, y_train, batch_size=batch_size, seed=seed)
    val_flow = ImageDataGenerator().flow(x_val, y_val, batch_size=64, shuffle=False)

    model = build_model()
    class_names = [str(d) for d in range(10)]
    metrics = EpochMetrics(class_names=class_names)
    checkpoint_path = os.path.join(run_dir, 'best_model.h5')
    history_csv = os.path.join(run_dir, 'history.csv')
    saver = PredictionSaver(os.path.join(run_dir, 'predictions', 'epoch_{epoch:02d}.npz'),
                            metrics)
    callbacks = [
        # TensorBoard first, as Mask R-CNN orders them: it still logs val_f1_macro.
        TensorBoard(tensorboard_dir, write_graph=False),
        ModelCheckpoint(checkpoint_path, monitor='val_f1_macro', mode='max',
                        save_best_only=True, verbose=verbose),
        metrics,
        TensorBoardPredictions(tensorboard_dir, metrics),
        saver,
        CSVLogger(history_csv),
    ]
    with keras_getpredict.patched():
        history = model.fit_generator(
            train_flow, steps_per_epoch=steps_per_epoch or len(train_flow), epochs=epochs,
            validation_data=val_flow, validation_steps=len(val_flow),
            callbacks=callbacks, verbose=verbose)   # EpochMetrics asks for the predictions

    curves = plots.history_figure(history.history, 'Digits CNN', CURVE_METRICS)
    written = [plots.save_figure(curves, os.path.join(plots_dir, 'training_curves.png'))]
    written += report(saver.saved[-1], out_dir=plots_dir, stream=False)
    return OrderedDict([('run_dir', run_dir), ('tensorboard', tensorboard_dir),
                        ('checkpoint', checkpoint_path), ('history_csv', history_csv),
                        ('predictions', list(saver.saved)), ('plots', written),
                        ('history', history.history), ('seconds', time.time() - start)])


def summary_text(result):
    """What the demo prints at the end: the files and the commands to look at them."""
    history = result['history']
    best = int(np.nanargmax(history['val_f1_macro']))
    lines = ['',
             'Done in %.0f s. Best epoch %d: val_f1_macro %.4f, val_acc %.4f.' % (
                 result['seconds'], best + 1, history['val_f1_macro'][best],
                 history['val_acc'][best]),
             'Run folder: %s' % result['run_dir'],
             '  TensorBoard logs   %s   (tensorboard --logdir %s)' % (
                 result['tensorboard'], result['tensorboard']),
             '  best checkpoint    %s' % result['checkpoint'],
             '  history (CSV)      %s' % result['history_csv'],
             '  predictions        %s ... %s' % (
                 result['predictions'][0], os.path.basename(result['predictions'][-1])),
             '  plots              %s' % ', '.join(os.path.basename(p) for p in result['plots']),
             'Inspect any epoch:   keras-getpredict report %s' % result['predictions'][-1]]
    return '\n'.join(lines)
