"""Turning captured predictions into numbers, pictures and files, without Keras.

Metrics and plots need the `keras-getpredict[metrics]` extra (scikit-learn and
matplotlib), imported on first use through `optional_deps`; saving and loading
prediction files needs only numpy.
"""
