import numpy as np
from tensorflow import keras

import keras_getpredict
keras_getpredict.install()  # patches tf.keras (and standalone Keras where installed)

x = np.random.rand(200, 8).astype('float32')
y = np.eye(3, dtype='float32')[(x.sum(1) * 3 / 8).astype(int)]
model = keras.Sequential([keras.layers.Dense(3, activation='softmax', input_shape=(8,))])
model.compile('adam', 'categorical_crossentropy', metrics=['acc'])


def batches(start, stop, size=32):
    while True:
        for i in range(start, stop, size):
            yield x[i:i + size], y[i:i + size]


def show(epoch, logs):
    preds = logs['val_gts_and_preds']            # one entry per validation batch
    flat = keras_getpredict.concat_batches(preds)  # per-sample arrays
    hits = (flat['y_true'].argmax(1) == flat['y_pred'].argmax(1)).mean()
    print('epoch %d: %d batches, %d samples, accuracy %.3f'
          % (epoch, len(preds['y_pred']), len(flat['y_pred']), hits))


model.fit_generator(batches(0, 150), steps_per_epoch=5, epochs=2, verbose=0,
                    validation_data=batches(150, 200), validation_steps=2,
                    callbacks=[keras.callbacks.LambdaCallback(on_epoch_end=show)],
                    get_predict=True)
metrics, preds = model.evaluate_generator(batches(150, 200), steps=2, get_predict=True)
print('loss %.3f acc %.3f from the same %d batches'
      % (metrics[0], metrics[1], len(preds['y_pred'])))
