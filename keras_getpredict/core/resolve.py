"""What one selection captures of one model: the one place that turns a `Selection`
into the model's tensors.

The validation capture (`CapturePlan`), the reducing mode (which outputs it counts, and
their class axes) and `BatchPredictions` (what its fetches assign) all start here, so
"which outputs are selected, and which of them have targets" is worked out once.
"""
from __future__ import absolute_import

from .selection import GET_PREDICT_ARGUMENTS, check_names, layer_key, layer_outputs


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
