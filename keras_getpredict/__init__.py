"""keras-getpredict: `get_predict` for Keras 2.x on TensorFlow 1.15.

```python
import keras_getpredict; keras_getpredict.install()
model.fit_generator(train_gen, ..., validation_data=val_gen, get_predict=True)
# in any callback: logs['val_gts_and_preds'] -> {'y_true': [...], 'y_pred': [...]}
metrics, preds = model.evaluate_generator(val_gen, steps, get_predict=True)
```

Importing this package imports neither TensorFlow nor Keras: each public name is
loaded from its module the first time it is used.
"""
from __future__ import absolute_import

import importlib
import sys
import types

__version__ = '0.3.0'

# Public name -> the module that defines it.
_PUBLIC = {
    'install': '.patching.install',
    'uninstall': '.patching.install',
    'is_installed': '.patching.install',
    'patched': '.patching.install',
    'capturing': '.patching.capturing',
    'is_native': '.patching.install',
    'native_version': '.patching.install',
    'LOGS_KEY': '.core.results',
    'GtsAndPreds': '.core.results',
    'concat_batches': '.core.results',
    'BatchPredictions': '.callbacks.batch_predictions',
}

__all__ = sorted(_PUBLIC) + ['__version__']


class _LazyModule(types.ModuleType):
    # A module subclass rather than PEP 562's module `__getattr__`, which Python 3.6
    # (the CUDA 10 image's Python) does not have.
    def __getattr__(self, name):
        module = _PUBLIC.get(name)
        if module is None:
            raise AttributeError('module %r has no attribute %r' % (__name__, name))
        value = getattr(importlib.import_module(module, __name__), name)
        setattr(self, name, value)
        return value

    def __dir__(self):
        return sorted(set(super(_LazyModule, self).__dir__()) | set(_PUBLIC))


sys.modules[__name__].__class__ = _LazyModule
