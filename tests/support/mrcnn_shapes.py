"""A synthetic shapes dataset drawn with numpy, and a tiny matterport Mask R-CNN config.

Used by the `mrcnn` test tier and benchmarks/bench_mask_rcnn.py; imports `mrcnn` (PyPI
`mrcnn==0.2`, matterport's code), so import it only where that is installed.
"""
import numpy as np
from mrcnn import utils
from mrcnn.config import Config

SIZE = 128
CLASS_NAMES = ['BG', 'square', 'circle']


class ShapesConfig(Config):
    NAME = 'shapes'
    GPU_COUNT = 1
    IMAGES_PER_GPU = 2
    NUM_CLASSES = len(CLASS_NAMES)
    IMAGE_MIN_DIM = SIZE
    IMAGE_MAX_DIM = SIZE
    BACKBONE = 'resnet50'
    RPN_ANCHOR_SCALES = (16, 32, 48, 64, 96)
    RPN_TRAIN_ANCHORS_PER_IMAGE = 64
    TRAIN_ROIS_PER_IMAGE = 32
    MAX_GT_INSTANCES = 4
    # From random weights the RPN proposes almost at random, and `proposal_targets`
    # samples no ROI (not even negatives) unless a proposal overlaps a ground truth
    # (IoU >= 0.5). So every anchor stays a proposal, the shapes fit the 32-pixel
    # anchors, and `start_from_anchors` zeroes the RPN's box deltas before training.
    RPN_NMS_THRESHOLD = 1.0
    POST_NMS_ROIS_TRAINING = 4092
    POST_NMS_ROIS_INFERENCE = 100
    STEPS_PER_EPOCH = 2
    VALIDATION_STEPS = 2


def start_from_anchors(model):
    """Zeroes the RPN's box-delta layer of a `MaskRCNN` so its proposals are the anchors."""
    layer = model.keras_model.get_layer('rpn_model').get_layer('rpn_bbox_pred')
    layer.set_weights([np.zeros_like(w) for w in layer.get_weights()])


def fix_heads(model):
    """Fixes the ROI head's last layers of a `MaskRCNN` before `compile`, so that two tiny
    epochs leave a model whose `detect` finds something to score: box deltas of zero
    (refined boxes are the proposals, never clipped to nothing) and a classifier whose
    background logit starts 3 below the shapes', with its random kernel scaled down (the
    scores still differ by ROI). Trained, the classifier often called every ROI
    background, and `detect` returned nothing."""
    keras_model = model.keras_model
    bbox = keras_model.get_layer('mrcnn_bbox_fc')
    bbox.set_weights([np.zeros_like(w) for w in bbox.get_weights()])
    logits = keras_model.get_layer('mrcnn_class_logits')
    kernel, bias = logits.get_weights()
    bias = np.zeros_like(bias)
    bias[0] = -3.
    logits.set_weights([kernel * 1e-3, bias])
    for layer in (bbox, logits):
        layer.trainable = False


class InferenceConfig(ShapesConfig):
    IMAGES_PER_GPU = 1
    # A model trained for two tiny epochs is unsure of everything: keep its detections.
    DETECTION_MIN_CONFIDENCE = 0.0
    DETECTION_MAX_INSTANCES = 20


class ShapesDataset(utils.Dataset):
    """Images with one to three non-overlapping squares and circles, one per quadrant."""

    def __init__(self, count, seed):
        super(ShapesDataset, self).__init__()
        rng = np.random.RandomState(seed)
        for k, name in enumerate(CLASS_NAMES[1:]):
            self.add_class('shapes', k + 1, name)
        for i in range(count):
            quadrants = rng.permutation(4)[:rng.randint(1, 4)]
            shapes = []
            for q in quadrants:
                radius = rng.randint(14, 20)
                cy = (q // 2) * SIZE // 2 + rng.randint(radius, SIZE // 2 - radius + 1)
                cx = (q % 2) * SIZE // 2 + rng.randint(radius, SIZE // 2 - radius + 1)
                shapes.append((rng.randint(1, 3), cy, cx, radius,
                               tuple(int(v) for v in rng.randint(60, 255, 3))))
            self.add_image('shapes', image_id=i, path=None, shapes=shapes,
                           background=tuple(int(v) for v in rng.randint(0, 50, 3)))
        self.prepare()

    @staticmethod
    def _masks(shapes):
        yy, xx = np.mgrid[:SIZE, :SIZE]
        masks = []
        for class_id, cy, cx, radius, _ in shapes:
            if class_id == 1:
                masks.append((abs(yy - cy) <= radius) & (abs(xx - cx) <= radius))
            else:
                masks.append((yy - cy) ** 2 + (xx - cx) ** 2 <= radius ** 2)
        return np.stack(masks, axis=-1)

    def load_image(self, image_id):
        info = self.image_info[image_id]
        image = np.empty((SIZE, SIZE, 3), 'uint8')
        image[:] = info['background']
        masks = self._masks(info['shapes'])
        for k, shape in enumerate(info['shapes']):
            image[masks[..., k]] = shape[4]
        return image

    def load_mask(self, image_id):
        shapes = self.image_info[image_id]['shapes']
        return self._masks(shapes), np.array([s[0] for s in shapes], 'int32')
