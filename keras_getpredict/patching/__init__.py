"""The run-time patch of stock Keras: `install()` wraps Keras' methods so they take
`get_predict`, and calls into `keras_getpredict.core` for everything they do."""
