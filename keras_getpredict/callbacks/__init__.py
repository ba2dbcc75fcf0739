"""The callbacks that work on `logs['val_gts_and_preds']`, in one place, as in
`keras.callbacks`.

```python
from keras_getpredict.callbacks import EpochMetrics, PredictionSaver, TensorBoardPredictions
```
"""
from __future__ import absolute_import

from .epoch_metrics import EpochMetrics
from .prediction_saver import PredictionSaver
from .tensorboard_images import TensorBoardPredictions

__all__ = ['EpochMetrics', 'PredictionSaver', 'TensorBoardPredictions']
