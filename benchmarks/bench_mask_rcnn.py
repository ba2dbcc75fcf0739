"""Mask R-CNN: the cost of the head metrics and of the quality metrics against plain
training, and of detection per image.

One model (mrcnn==0.2, the tiny shapes config of tests/support/mrcnn_shapes.py), epochs
taking turns between plain `fit_generator` (no get_predict, no callback), `fit_generator(...,
get_predict=HEADS_GET_PREDICT)` with `MaskRCNNHeadMetrics`, and `fit_generator` with
`MaskRCNNQualityMetrics` (graph sums of the mask and box heads, asked for by the callback);
then `MaskRCNNDetectionMetrics` once (inference model build + weight copy, then `detect` per
image). Prints medians and the ratios from this one run; no assertion.

    python benchmarks/bench_mask_rcnn.py [--rounds 3] [--steps 4] [--images 8]
    python benchmarks/bench_mask_rcnn.py --fold-only   # the quality fold alone at COCO sizes

`--fold-only` times the quality metrics' graph fold by itself on random tensors of COCO's
training sizes (81 classes, 200 ROIs per image, a third positive, 28x28 masks, 2 images),
held in variables so that no feed is timed, against one full read of `mrcnn_mask`
(`reduce_sum`): what fetching it would at least cost.
"""
from __future__ import print_function

import argparse
import os
import sys
import tempfile
import time
import warnings

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
warnings.simplefilter('ignore')
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'tests'))

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

tf.compat.v1.logging.set_verbosity(tf.compat.v1.logging.ERROR)
import keras_getpredict  # noqa: E402
from keras_getpredict.callbacks.mask_rcnn_metrics import quality_sums  # noqa: E402
from keras_getpredict.mask_rcnn import (HEADS_GET_PREDICT, MaskRCNNDetectionMetrics,  # noqa: E402
                                        MaskRCNNHeadMetrics, MaskRCNNQualityMetrics)
from mrcnn import model as modellib  # noqa: E402
from support.mrcnn_shapes import (InferenceConfig, ShapesConfig, ShapesDataset,  # noqa: E402
                                  start_from_anchors)


def fold_only(rounds, batch=2, rois=200, classes=81, side=28):
    rng = np.random.RandomState(0)
    ids = np.where(np.arange(rois) < rois // 3, rng.randint(1, classes, (batch, rois)), 0)
    values = [rng.rand(batch, rois, 4).astype('float32'), ids.astype('int32'),
              rng.randn(batch, rois, 4).astype('float32'),
              (rng.rand(batch, rois, side, side) > 0.5).astype('float32'),
              rng.randn(batch, rois, classes, 4).astype('float32'),
              rng.rand(batch, rois, side, side, classes).astype('float32')]
    with tf.Graph().as_default():
        tensors = [tf.Variable(v) for v in values]
        sums = quality_sums(*tensors, num_classes=classes)
        full_read = tf.reduce_sum(tensors[-1])
        with tf.compat.v1.Session() as session:
            session.run(tf.compat.v1.global_variables_initializer())
            timed = {}
            for name, op in (('fold', sums), ('read', full_read)):
                session.run(op)
                times = []
                for _ in range(rounds):
                    start = time.time()
                    session.run(op)
                    times.append(time.time() - start)
                timed[name] = np.median(times) * 1e3
    print('quality fold alone, %d images x %d ROIs (%d positive) x %dx%d x %d classes '
          '(mrcnn_mask %.0f MB): %.1f ms per batch; one full read of mrcnn_mask %.1f ms '
          '(medians of %d)' % (batch, rois, int((ids > 0).sum()), side, side, classes,
                               values[-1].nbytes / 1e6, timed['fold'], timed['read'], rounds))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--rounds', type=int, default=3)
    parser.add_argument('--steps', type=int, default=4, help='train and validation steps')
    parser.add_argument('--images', type=int, default=8, help='images for detection')
    parser.add_argument('--fold-only', action='store_true',
                        help='time the quality fold alone at COCO sizes, then stop')
    args = parser.parse_args()
    if args.fold_only:
        return fold_only(max(args.rounds, 10))
    keras_getpredict.install()
    config = ShapesConfig()
    config.STEPS_PER_EPOCH = config.VALIDATION_STEPS = args.steps
    root = tempfile.mkdtemp()
    train_set, val_set = ShapesDataset(16, seed=0), ShapesDataset(16, seed=1)
    model = modellib.MaskRCNN(mode='training', config=config, model_dir=root)
    model.set_trainable('.*', verbose=0)
    model.compile(config.LEARNING_RATE, config.LEARNING_MOMENTUM)
    start_from_anchors(model)
    heads = MaskRCNNHeadMetrics(val_set.class_names, verbose=0)
    quality = MaskRCNNQualityMetrics(val_set.class_names, config.BBOX_STD_DEV)
    # Each variant: (callbacks, the call's get_predict); the quality callback asks itself.
    variants = {'plain': ([], False), 'heads': ([heads], HEADS_GET_PREDICT),
                'quality': ([quality], None)}
    epoch = [0]

    def run(variant):
        callbacks, get_predict = variants[variant]
        start = time.time()
        model.keras_model.fit_generator(
            modellib.data_generator(train_set, config, batch_size=config.BATCH_SIZE),
            initial_epoch=epoch[0], epochs=epoch[0] + 1, steps_per_epoch=args.steps,
            validation_data=modellib.data_generator(val_set, config,
                                                    batch_size=config.BATCH_SIZE),
            validation_steps=args.steps, workers=1, use_multiprocessing=False, verbose=0,
            callbacks=callbacks, get_predict=get_predict)
        epoch[0] += 1
        return time.time() - start

    def evaluate(name):
        """The validation pass alone, where the capture works."""
        get_predict = {'plain': False, 'heads': HEADS_GET_PREDICT,
                       'quality': quality.get_predict}[name]
        start = time.time()
        model.keras_model.evaluate_generator(
            modellib.data_generator(val_set, config, batch_size=config.BATCH_SIZE),
            steps=args.steps, workers=1, use_multiprocessing=False, get_predict=get_predict)
        return time.time() - start

    for name in variants:  # warm-up: builds the test function and the capturing ones
        run(name)
    times = dict((name, []) for name in variants)
    for _ in range(args.rounds):
        for name in variants:
            times[name].append(run(name))
    plain = np.median(times['plain'])
    print('epoch (%d train + %d validation steps of %d images), medians of %d: plain %.2f s, '
          'with head metrics %.2f s (ratio %.3f), with quality metrics %.2f s (ratio %.3f); '
          'all epochs: %s' % (
              args.steps, args.steps, config.BATCH_SIZE, args.rounds, plain,
              np.median(times['heads']), np.median(times['heads']) / plain,
              np.median(times['quality']), np.median(times['quality']) / plain,
              dict((k, [round(t, 1) for t in v]) for k, v in times.items())))
    times = dict((name, []) for name in variants)
    for name in variants:
        evaluate(name)  # warm-up
    for _ in range(args.rounds):
        for name in variants:
            times[name].append(evaluate(name))
    plain = np.median(times['plain'])
    print('validation pass alone (evaluate_generator, %d steps), medians of %d: plain %.2f s, '
          'heads capture %.2f s (ratio %.3f), quality sums %.2f s (ratio %.3f); all: %s' % (
              args.steps, args.rounds, plain, np.median(times['heads']),
              np.median(times['heads']) / plain, np.median(times['quality']),
              np.median(times['quality']) / plain,
              dict((k, [round(t, 2) for t in v]) for k, v in times.items())))
    detection = MaskRCNNDetectionMetrics(
        val_set, InferenceConfig(), modellib.load_image_gt, mask_rcnn_class=modellib.MaskRCNN,
        model_dir=root, n_images=args.images, verbose=0)
    detection.set_model(model.keras_model)
    start = time.time()
    detection._inference_model()
    built = time.time() - start
    result = detection.evaluate()
    start = time.time()
    detection._inference_model()
    copied = time.time() - start
    print('detection: inference model built in %.1f s (once), weights copied in %.2f s, '
          '%.3f s per image (detect alone, %d images)'
          % (built - copied, copied, result.seconds_per_image, args.images))


if __name__ == '__main__':
    main()
