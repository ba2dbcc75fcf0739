"""Mask R-CNN: the cost of the head metrics against plain training, and of detection per image.

One model (mrcnn==0.2, the tiny shapes config of tests/support/mrcnn_shapes.py), epochs alternating
between plain `fit_generator` (no get_predict, no callback) and `fit_generator(...,
get_predict=HEADS_GET_PREDICT)` with `MaskRCNNHeadMetrics`; then `MaskRCNNDetectionMetrics`
once (inference model build + weight copy, then `detect` per image). Prints medians and the
ratio from this one run; no assertion.

    python benchmarks/bench_mask_rcnn.py [--rounds 3] [--steps 4] [--images 8]
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
from keras_getpredict.mask_rcnn import (HEADS_GET_PREDICT, MaskRCNNDetectionMetrics,  # noqa: E402
                                        MaskRCNNHeadMetrics)
from mrcnn import model as modellib  # noqa: E402
from support.mrcnn_shapes import (InferenceConfig, ShapesConfig, ShapesDataset,  # noqa: E402
                                  start_from_anchors)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--rounds', type=int, default=3)
    parser.add_argument('--steps', type=int, default=4, help='train and validation steps')
    parser.add_argument('--images', type=int, default=8, help='images for detection')
    args = parser.parse_args()
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
    epoch = [0]

    def run(with_heads):
        start = time.time()
        model.keras_model.fit_generator(
            modellib.data_generator(train_set, config, batch_size=config.BATCH_SIZE),
            initial_epoch=epoch[0], epochs=epoch[0] + 1, steps_per_epoch=args.steps,
            validation_data=modellib.data_generator(val_set, config,
                                                    batch_size=config.BATCH_SIZE),
            validation_steps=args.steps, workers=1, use_multiprocessing=False, verbose=0,
            callbacks=[heads] if with_heads else [],
            get_predict=HEADS_GET_PREDICT if with_heads else False)
        epoch[0] += 1
        return time.time() - start

    run(True)  # warm-up: builds the test function and the capturing one
    run(False)
    times = {False: [], True: []}
    for _ in range(args.rounds):
        for with_heads in (False, True):
            times[with_heads].append(run(with_heads))
    plain, with_heads = np.median(times[False]), np.median(times[True])
    print('epoch (%d train + %d validation steps of %d images): plain %.2f s, with head '
          'metrics %.2f s, ratio %.3f (medians of %d)' % (
              args.steps, args.steps, config.BATCH_SIZE, plain, with_heads,
              with_heads / plain, args.rounds))
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
