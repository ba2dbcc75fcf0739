"""keras-getpredict: `get_predict` for Keras 2.2.4 on TensorFlow 1.15.

```python
import keras_getpredict; keras_getpredict.install()
model.fit_generator(train_gen, ..., validation_data=val_gen, get_predict=True)
# in any callback: logs['val_gts_and_preds'] -> {'y_true': [...], 'y_pred': [...]}
metrics, preds = model.evaluate_generator(val_gen, steps, get_predict=True)
```
"""
from __future__ import absolute_import

from .batch_capture import BatchPredictions
from .install import install, is_installed, patched, uninstall
from .native import is_native, native_version
from .results import LOGS_KEY, GtsAndPreds, concat_batches

__version__ = '0.1.0'

__all__ = ['install', 'uninstall', 'is_installed', 'patched',
           'concat_batches', 'GtsAndPreds', 'LOGS_KEY', 'BatchPredictions',
           '__version__', 'is_native', 'native_version']
