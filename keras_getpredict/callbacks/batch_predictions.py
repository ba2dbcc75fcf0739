"""`BatchPredictions`: every *training* batch's targets and outputs, as the batch was fed.

The values leave the training step through fetches of the train function
(`core/train_fetches.py`, which says how and why); this callback chooses what to take
(`core/resolve.py`, as the validation capture does) and keeps the records.
"""
from __future__ import absolute_import

import collections
import numbers

import numpy as np
import six

from ..core import families, train_fetches
from ..core.failures import (ConfigurationError, ConfigurationTypeError, safe_hooks,
                             theirs)
from ..core.resolve import resolve
from ..core.results import GtsAndPreds
from ..core.selection import Selection, layer_key, name_list, parse_layers

#: How messages name what `BatchPredictions` selects.
ARGUMENTS = {'outputs': '`outputs`', 'inputs': '`inputs`', 'layers': '`layers`'}

KEEP_FORMS = ("'epoch' (the current epoch's batches), 'all' (every batch), "
              "or an int K >= 0 (the last K batches)")


def _check_keep(keep):
    if isinstance(keep, six.string_types):
        if keep not in ('epoch', 'all'):
            raise ConfigurationError('`keep` should be %s; got %r.' % (KEEP_FORMS, keep))
        return keep
    if isinstance(keep, (bool, np.bool_)) or not isinstance(keep, numbers.Integral):
        raise ConfigurationTypeError(
            '`keep` should be %s; got %r of type %s.'
            % (KEEP_FORMS, keep, type(keep).__name__))
    if keep < 0:
        raise ConfigurationError('`keep` should be %s; got %r.' % (KEEP_FORMS, keep))
    return int(keep)


@safe_hooks
class BatchPredictions(families.callback_base()):
    """Records every training batch's targets and outputs, exactly as the batch was fed.

    For each training batch of `fit` and `fit_generator` (after shuffling, the last
    partial batch included) it captures the targets (`y_true`), the model's outputs
    in training mode (`y_pred`), and optionally named inputs and the sample weights,
    from the training step itself: no second forward pass. The values leave the
    step through variables assigned by fetches of the train function (the Keras
    plain recipe) and are read back in one session run per batch.

    It wires itself up when training starts and takes its fetches out again when
    training ends; `predict`, `evaluate`, validation, `save` and `load_model`
    behave as stock Keras, also while it records.

    # Arguments
        outputs: an output name or a list of them; `None` (default) for all.
        inputs: an input name or a list of input names whose fed values are
            kept too (Mask R-CNN-style models keep their ground truth in inputs).
        sample_weights: whether to keep the sample weights each selected
            output was trained with (`class_weight` shows up here too).
        keep: which batches stay in `records`: `'epoch'` the current epoch's
            (cleared when an epoch begins), `'all'` every batch of the run, or
            an int K, the last K batches (`0`: none, for streaming). Defaults
            to `'epoch'`, or to `0` when `on_batch` is given.
        on_batch: a function called with each batch's record right after the
            batch, e.g. to write it to disk; with `keep=0` nothing is held.
        layers: internal layer outputs to keep too, in the forms of
            `get_predict['layers']` (e.g. `{'proposal_targets': 1}`); they go
            under `record['layers']['proposal_targets/1']`.

    # Attributes
        records: the kept batches, oldest first. Each is a dict with `'epoch'`,
            `'batch'`, `'y_true'`, `'y_pred'` and, when selected, `'inputs'`
            (name -> array) and `'sample_weights'`. With one selected output
            `'y_true'`/`'y_pred'`/`'sample_weights'` are arrays; with several,
            lists of arrays in `output_names` order (`None` where an output has
            no target or no sample weights).
        y_true: `[record['y_true'] for record in records]`.
        y_pred: `[record['y_pred'] for record in records]`.
        output_names: names of the captured outputs.
        input_names: names of the captured inputs.

    # Raises
        RuntimeError: When training starts, in case Keras is not 2.2.4 or its
            backend function lacks an attribute this callback reaches into.
        ValueError: In case a name in `outputs`/`inputs` is not one of the
            model's (raised when training starts, listing the model's names),
            or `keep` is out of range.
        TypeError: In case `outputs`/`inputs` are not names, `keep` is not one
            of the accepted forms or `on_batch` is not callable.
        RuntimeError: In case the model is not compiled (Keras' own error).

    # Example
    ```python
    batches = BatchPredictions(keep='all')
    model.fit(x, y, batch_size=32, epochs=2, callbacks=[batches])
    first = batches.records[0]            # epoch 0, batch 0
    flat = keras_getpredict.concat_batches(batches.gts_and_preds())

    # A long run: stream every batch to disk, keep nothing in memory.
    def save(record):
        np.savez('batch_%d_%d.npz' % (record['epoch'], record['batch']),
                 y_true=record['y_true'], y_pred=record['y_pred'])
    model.fit_generator(gen, steps, epochs=100, callbacks=[BatchPredictions(on_batch=save)])
    ```
    """

    def __init__(self, outputs=None, inputs=None, sample_weights=False, keep=None,
                 on_batch=None, layers=None):
        super(BatchPredictions, self).__init__()
        self._layers = parse_layers(layers) if layers is not None else ()
        self.layer_keys = [layer_key(name, index) for name, index in self._layers]
        self._outputs = None if outputs is None else name_list(outputs, '`outputs`')
        if self._outputs == ():
            raise ConfigurationError(
                '`outputs` selects no output: pass `None` for all '
                'outputs, or at least one output name.')
        self._inputs = () if inputs is None else name_list(inputs, '`inputs`')
        self._sample_weights = bool(sample_weights)
        if on_batch is not None and not callable(on_batch):
            raise ConfigurationTypeError(
                '`on_batch` should be a function taking one batch '
                'record; got %r of type %s.' % (on_batch, type(on_batch).__name__))
        self.on_batch = on_batch
        if keep is None:
            keep = 0 if on_batch is not None else 'epoch'
        self.keep = _check_keep(keep)
        if self.keep == 0 and on_batch is None:
            raise ConfigurationError(
                '`keep=0` keeps no batch and no `on_batch` function '
                'receives them; pass `on_batch`, or keep %s.' % KEEP_FORMS)
        self.records = self._new_store()
        self.output_names = []
        self.input_names = list(self._inputs)
        self._fetches = None
        self._function = None
        self._family = None
        self._epoch = 0

    def _new_store(self):
        if isinstance(self.keep, int):
            return collections.deque(maxlen=self.keep)
        return []

    @property
    def y_true(self):
        return [record['y_true'] for record in self.records]

    @property
    def y_pred(self):
        return [record['y_pred'] for record in self.records]

    def gts_and_preds(self):
        """The kept batches in the form of `logs['val_gts_and_preds']`.

        # Returns
            A `GtsAndPreds` (`{'y_true': [...], 'y_pred': [...]}` and `'inputs'`
            when inputs are captured), ready for `concat_batches`.
        """
        inputs = {name: [record['inputs'][name] for record in self.records]
                  for name in self.input_names}
        layers = {key: [record['layers'][key] for record in self.records]
                  for key in self.layer_keys}
        return GtsAndPreds(self.output_names, self.y_true, self.y_pred, inputs, layers)

    # -- wiring ------------------------------------------------------------

    def _layout(self, resolved):
        """Which tensor each record slot comes from: a list of (slot, tensor) pairs."""
        layout = []
        for k, (output, target, weight) in enumerate(zip(
                resolved.outputs, resolved.targets, resolved.sample_weights)):
            layout.append((('y_pred', k), output))
            if target is not None:
                layout.append((('y_true', k), target))
            if self._sample_weights and weight is not None:
                layout.append((('sample_weights', k), weight))
        layout += [(('inputs', k), tensor) for k, tensor in enumerate(resolved.inputs)]
        layout += [(('layers', k), tensor) for k, tensor in enumerate(resolved.layers)]
        return layout

    def on_train_begin(self, logs=None):
        model = self.model
        # The model's Keras family, once per training run: everything below takes it.
        # An unsupported Keras is a configuration error, raised as it is.
        family = self._family = theirs(families.supported_family_of, model, 'BatchPredictions')
        theirs(family.check_train_function_access, 'BatchPredictions')
        # `fit`/`fit_generator` built it already; otherwise this raises Keras' own
        # "You must compile your model before using it." for an uncompiled model.
        train_function = theirs(family.built_train_function, model)
        resolved = resolve(model, Selection(self._outputs, self._inputs, layers=self._layers),
                           family, ARGUMENTS)
        layout = self._layout(resolved)
        # One variable per distinct tensor (one tensor can fill two slots, e.g.
        # `compile(target_tensors=...)` with an input as target).
        tensors = []
        for _, tensor in layout:
            if not any(tensor is t for t in tensors):
                tensors.append(tensor)
        self._fetches = train_fetches.fetches_for(train_function, tensors)
        self._slots = [(slot, [t is tensor for t in tensors].index(True))
                       for slot, tensor in layout]
        self.output_names = resolved.output_names
        self.input_names = resolved.input_names
        self._read = self._fetches.reader(family)
        self.records = self._new_store()
        self._function = train_function
        train_fetches.attach_fetch(family, self._function, self._fetches.fetch,
                                   getattr(self, 'params', None))

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch
        if self.keep == 'epoch':
            self.records = []

    def on_batch_end(self, batch, logs=None):
        if self._function is None:
            return
        values = self._read()
        by_slot = {slot: values[position] for slot, position in self._slots}
        record = {'epoch': self._epoch, 'batch': batch}
        single = len(self.output_names) == 1

        def per_output(kind):
            column = [by_slot.get((kind, k)) for k in range(len(self.output_names))]
            return column[0] if single else column

        record['y_true'] = per_output('y_true')
        record['y_pred'] = per_output('y_pred')
        if self._sample_weights:
            for k in range(len(self.output_names)):
                weight, pred = by_slot.get(('sample_weights', k)), by_slot.get(('y_pred', k))
                if weight is not None and pred is not None:
                    by_slot[('sample_weights', k)] = _one_per_sample(weight, len(pred))
            record['sample_weights'] = per_output('sample_weights')
        if self.input_names:
            record['inputs'] = {name: by_slot[('inputs', k)]
                                for k, name in enumerate(self.input_names)}
        if self._layers:
            record['layers'] = {key: by_slot[('layers', k)]
                                for k, key in enumerate(self.layer_keys)}
        if self.keep != 0:
            self.records.append(record)
        if self.on_batch is not None:
            theirs(self.on_batch, record)

    def on_train_end(self, logs=None):
        self.detach()

    def detach(self):
        """Takes this callback's fetch out of the train function.

        Training ends call it. Keras 2.2.4 skips `on_train_end` when training
        raises; the next `BatchPredictions` to start on the model removes the
        leftover fetch, or call this in your own `finally`.
        """
        if self._function is not None:
            train_fetches.detach_fetch(self._family, self._function, self._fetches.fetch)
            self._function = None


def _one_per_sample(weight, samples):
    """One weight per sample: tf.keras runs an output trained without weights with a
    single weight of 1 that the loss broadcasts (its default `[1.]`); standalone Keras
    feeds one per sample."""
    if weight.shape == (1,) and samples != 1:
        return np.full((samples,), weight[0], dtype=weight.dtype)
    return weight
