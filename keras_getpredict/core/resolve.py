"""What one selection captures of one model: the one place that checks a `Selection`
against a model's names and turns it into the model's tensors.

The validation capture (`BatchFetches`), the reducing mode (which outputs it counts, and
their class axes) and `BatchPredictions` (what its fetches assign) all start here, so
"which outputs are selected, and which of them have targets" is worked out once.
"""
from __future__ import absolute_import

from .failures import ConfigurationError
from .selection import layer_key

#: How messages name each part of a selection made by `get_predict`.
GET_PREDICT_ARGUMENTS = {'outputs': '`get_predict`', 'inputs': '`get_predict`',
                         'layers': "`get_predict['layers']`"}


def check_names(model, selection, arguments=None):
    """Raises `ConfigurationError` naming the model's names when a name is unknown.

    Models that are not built yet (a `Sequential` without an input shape) have no
    names; they are checked when capture starts.

    # Arguments
        arguments: how messages name the selection's `'outputs'`, `'inputs'` and
            `'layers'` (`GET_PREDICT_ARGUMENTS` by default).
    """
    arguments = arguments or GET_PREDICT_ARGUMENTS
    output_names = getattr(model, 'output_names', None)
    input_names = getattr(model, 'input_names', None)
    if output_names is not None and selection.outputs is not None:
        unknown = [n for n in selection.outputs if n not in output_names]
        if unknown:
            raise ConfigurationError(
                'Unknown output name(s) in %s: %s. The model\'s outputs are: %s.'
                % (arguments['outputs'], unknown, list(output_names)))
    if input_names is not None:
        unknown = [n for n in selection.inputs if n not in input_names]
        if unknown:
            raise ConfigurationError(
                'Unknown input name(s) in %s: %s. The model\'s inputs are: %s.'
                % (arguments['inputs'], unknown, list(input_names)))
    if selection.layers and getattr(model, 'layers', None) is not None:
        layer_outputs(model, selection.layers, arguments['layers'])


def _outputs_of(layer):
    # Node 0: the call that built the layer (Mask R-CNN calls each layer once).
    output = layer.get_output_at(0)
    return list(output) if isinstance(output, (list, tuple)) else [output]


def layer_outputs(model, pairs, argument="`get_predict['layers']`"):
    """The output tensors of `(layer name, index)` pairs of `model`'s layers.

    # Raises
        ConfigurationError: In case a layer name is unknown (the message lists the
            model's layer names), or an index is out of range (the message gives
            the layer's number of outputs).
    """
    by_name = dict((layer.name, layer) for layer in model.layers)
    tensors = []
    for name, index in pairs:
        if name not in by_name:
            raise ConfigurationError(
                'Unknown layer name %r in %s. The model\'s layers are: %s.'
                % (name, argument, [layer.name for layer in model.layers]))
        outputs = _outputs_of(by_name[name])
        if index is None and len(outputs) > 1:
            raise ConfigurationError(
                'Layer %r in %s has %d outputs: give an output index, as '
                '(%r, 0) .. (%r, %d).'
                % (name, argument, len(outputs), name, name, len(outputs) - 1))
        if index is not None and index >= len(outputs):
            raise ConfigurationError(
                'Layer %r in %s has %d output(s) (indices 0 to %d); got '
                'index %d.' % (name, argument, len(outputs), len(outputs) - 1, index))
        tensors.append(outputs[0 if index is None else index])
    return tensors


class Resolved(object):
    """The tensors of one selection, in the model's order.

    # Attributes
        output_names, outputs: the selected outputs (all, when the selection names
            none), in the model's order, whatever order the selection gave.
        targets: the target tensor of each selected output, `None` where the output
            has none (`compile(loss=None)`, Mask R-CNN's losses as outputs).
        sample_weights: the sample-weight tensor of each selected output, or `None`.
        input_names, inputs: the selected inputs, in the selection's order.
        layer_keys, layers: the selected layer outputs (`'proposal_targets/1'`).
    """

    def __init__(self, output_names, outputs, targets, sample_weights, input_names, inputs,
                 layer_keys, layers):
        self.output_names = output_names
        self.outputs = outputs
        self.targets = targets
        self.sample_weights = sample_weights
        self.input_names = input_names
        self.inputs = inputs
        self.layer_keys = layer_keys
        self.layers = layers

    @property
    def names_with_targets(self):
        """The selected outputs that have targets: what the reducing mode counts."""
        return [name for name, target in zip(self.output_names, self.targets)
                if target is not None]


def _per_output(values, count):
    values = list(values or [])
    return values + [None] * (count - len(values))


def resolve(model, selection, family, arguments=None):
    """The tensors `selection` captures of `model`.

    # Arguments
        model: a built Keras model (compiled, for targets and sample weights).
        selection: a `Selection`.
        family: the model's Keras family (`core.families`), which knows where the
            targets are; resolved by the caller, once per call.
        arguments: how messages name the selection's parts (see `check_names`).

    # Returns
        A `Resolved`.

    # Raises
        ConfigurationError: In case a name is unknown (the message lists the model's
            names).
    """
    arguments = arguments or GET_PREDICT_ARGUMENTS
    check_names(model, selection, arguments)
    names = list(model.output_names)
    wanted = names if selection.outputs is None else selection.outputs
    indices = [i for i, name in enumerate(names) if name in wanted]
    targets = _per_output(family.model_targets(model), len(names))
    weights = _per_output(family.model_sample_weights(model), len(names))
    input_names = list(model.input_names)
    return Resolved(
        output_names=[names[i] for i in indices],
        outputs=[model.outputs[i] for i in indices],
        targets=[targets[i] for i in indices],
        sample_weights=[weights[i] for i in indices],
        input_names=list(selection.inputs),
        inputs=[model.inputs[input_names.index(name)] for name in selection.inputs],
        layer_keys=[layer_key(name, index) for name, index in selection.layers],
        layers=layer_outputs(model, selection.layers, arguments['layers']))
