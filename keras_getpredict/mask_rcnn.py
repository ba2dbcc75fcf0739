"""Mask R-CNN (matterport and its forks): head metrics and mask/box quality every epoch,
detection metrics on demand.

```python
from keras_getpredict.mask_rcnn import (HEADS_GET_PREDICT, MaskRCNNHeadMetrics,
                                        MaskRCNNQualityMetrics, MaskRCNNDetectionMetrics)
```
See docs/mask_rcnn.md.
"""
from __future__ import absolute_import

from .analysis.detection import DetectionMetrics, ImageDetections
from .analysis.mask_rcnn_heads import HEADS_GET_PREDICT, head_metrics
from .callbacks.mask_rcnn_metrics import (MaskRCNNDetectionMetrics, MaskRCNNHeadMetrics,
                                          MaskRCNNQualityMetrics, MaskRCNNQualitySums,
                                          copy_weights_by_name)

__all__ = ['DetectionMetrics', 'HEADS_GET_PREDICT', 'ImageDetections',
           'MaskRCNNDetectionMetrics', 'MaskRCNNHeadMetrics', 'MaskRCNNQualityMetrics',
           'MaskRCNNQualitySums', 'copy_weights_by_name',
           'head_metrics']
