"""The callbacks that work on `logs['val_gts_and_preds']`, in one place, as in
`keras.callbacks`.

```python
from keras_getpredict.callbacks import EpochMetrics, PredictionSaver, TensorBoardPredictions
```

Their configuration errors raise at construction or at the first epoch with
predictions; later errors in their own analysis warn once and training goes on,
unless `KERAS_GETPREDICT_STRICT=1` (see `keras_getpredict.core.failures`).
"""
from __future__ import absolute_import

from .batch_predictions import BatchPredictions
from .epoch_metrics import EpochMetrics
from ..core.failures import AnalysisFailedWarning
from .prediction_saver import PredictionSaver
from .predictions_callback import PredictionsCallback
from .reduce_metrics import ReduceMetrics
from .tensorboard_counts import TensorBoardCounts
from .tensorboard_images import TensorBoardPredictions

#: The former name of `ReduceMetrics`, kept for one release (0.2.x); it is the same class.
StreamingMetrics = ReduceMetrics

__all__ = ['AnalysisFailedWarning', 'BatchPredictions', 'EpochMetrics', 'PredictionSaver',
           'PredictionsCallback', 'ReduceMetrics', 'StreamingMetrics', 'TensorBoardCounts',
           'TensorBoardPredictions']
