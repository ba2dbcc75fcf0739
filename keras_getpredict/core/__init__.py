"""What both forms share: capture, selection, results, publishing, logs filters,
Horovod gathering, and the one list of Keras internals they rely on.

The fork vendors every module of this package, unchanged, as `keras/getpredict/`
(`patches/fork.sh vendor`): so each module imports only its siblings, numpy, six,
scipy, Keras and TensorFlow, never the rest of `keras_getpredict`.
"""
