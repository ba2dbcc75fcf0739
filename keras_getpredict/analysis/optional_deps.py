"""The packages of the `keras-getpredict[metrics]` extra, imported when first needed.

Capturing predictions and saving them need neither scikit-learn nor matplotlib; the
analysis modules import them through `optional_module`, so a missing package fails
where it is used, with the command that installs it.
"""
from __future__ import absolute_import

import importlib

#: What installs every package listed in `PACKAGES`.
INSTALL_COMMAND = "pip install 'keras-getpredict[metrics]'"

#: Top-level module -> the name to `pip install`.
PACKAGES = {'sklearn': 'scikit-learn', 'matplotlib': 'matplotlib'}


def optional_module(name):
    """Imports a module of the metrics extra, e.g. `'sklearn.metrics'`.

    # Arguments
        name: dotted module name; its first part is a key of `PACKAGES`.

    # Returns
        The module.

    # Raises
        ImportError: In case it cannot be imported; the message names the
            package and `INSTALL_COMMAND`.
    """
    try:
        return importlib.import_module(name)
    except ImportError as e:
        top = name.split('.')[0]
        raise ImportError('keras-getpredict needs %s for metrics, plots and reports, but '
                          '`import %s` failed (%s). Install it with: %s'
                          % (PACKAGES.get(top, top), name, e, INSTALL_COMMAND))


def require(*names):
    """Imports each of `names` (see `optional_module`), so a callback or command fails
    at its start rather than in the middle of a run."""
    for name in names:
        optional_module(name)
