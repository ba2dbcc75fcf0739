"""A prediction file the file tests start from."""
import numpy as np

from keras_getpredict import GtsAndPreds
from keras_getpredict.analysis.files import save_predictions
from keras_getpredict.callbacks import EpochMetrics


def good_file(path):
    """A valid two-output file: 'a' multiclass with settings, 'b' without targets."""
    y_true = np.eye(3)[[0, 1, 2, 1]]
    y_pred = np.array([[.8, .1, .1], [.2, .7, .1], [.1, .1, .8], [.5, .4, .1]])
    save_predictions(path, GtsAndPreds(['a', 'b'], [[y_true, None]], [[y_pred, np.ones((4, 2))]]),
                     epoch=2, metrics=EpochMetrics(class_names={'a': ['x', 'y', 'z']}),
                     logs={'val_loss': 0.5})
    return path
