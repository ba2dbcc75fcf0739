"""The replacements for `Model.fit`, `fit_generator`, `evaluate` and `evaluate_generator`,
and the `training_arrays.fit_loop` hook `fit` relies on.

Each is a thin shell around `keras_getpredict.core.publishing`, the flow the fork's
hook points call too. Where each path's validation forward pass happens, and how the
run-time patch reaches it:

- `evaluate_generator` and `evaluate`: every batch goes through `model.test_function`;
  it is swapped for a `RecordingFunction` for the duration of the call.
- `fit` (arrays): `fit` binds `val_f = model.test_function` before training and hands
  it to `fit_loop`; the `fit_loop` hook wraps `val_f`, which only validation uses.
- `fit_generator`: validation calls `model.evaluate_generator`/`evaluate`, which read
  `model.test_function`. It is swapped in only from the last training batch's
  `on_batch_end` (after every user callback) to the epoch's `on_epoch_end` (before any
  user callback), a window in which Keras runs the validation and nothing else, so a
  callback that evaluates on its own is never recorded.
- tf.keras `fit` and `fit_generator`: both read `model.test_function` when they
  validate, so both capture by that window (`make_window_fit`); tf.keras rebuilds
  the test function in mid-call when the sample-weight mode changes, so its
  `_make_test_function` wraps a rebuilt one again while armed
  (`make_make_test_function`).

Every swap is undone in `finally`; with `get_predict` off the original runs untouched.
Each factory takes the Keras family (`core.families`) `install()` resolved for the
stack it patches, and hands it to `core.publishing`: no call asks again.

Each replacement looks like the original plus one keyword, `get_predict`: name, doc,
signature and `__wrapped__` (`with_get_predict`; `wraps_original` for the wrappers of
`callback_patches.py`).
"""
from __future__ import absolute_import

import functools
import inspect
import re

from ..core import publishing, requests
from ..core.attached import attach, detach
from ..core.results import LOGS_KEY

# Set on a model while its `fit` call waits for `fit_loop`.
_PENDING_FIT_LOOP = 'pending_fit_loop'


GET_PREDICT_DOC = (
    'get_predict: Capture the model\'s predictions from the same forward pass\n'
    '    that computes the loss and metrics. `False` (default) is stock Keras;\n'
    '    `True` captures every output; an output name or a list of names\n'
    '    captures those; a dict `{\'outputs\': [...], \'inputs\': [...]}` also\n'
    '    keeps the named inputs as fed (where ground truth lives in inputs).\n'
    '    %s\n'
    '    Callbacks may ask for capture themselves (a `get_predict` attribute),\n'
    '    and so may an enclosing `keras_getpredict.capturing` block: their\n'
    '    requests are merged with this argument. (keras-getpredict)')


def _with_argument_doc(doc, text):
    """Inserts `text` as the last entry of the docstring's `# Arguments` section."""
    if not doc:
        return text
    match = re.search(r'\n([ \t]*)# Returns', doc)
    if not match:
        return doc + '\n\n' + text
    indent = match.group(1) + '    '
    block = '\n'.join(indent + line if line else line for line in text.splitlines())
    return doc[:match.start()] + '\n' + block + '\n' + doc[match.start():]


def with_get_predict(raw, wrapper, effect):
    """Gives `wrapper` the name, doc and signature of `raw`, with `get_predict` added.

    # Arguments
        raw: the original (undecorated) method.
        wrapper: the replacement, taking `*args, **kwargs`.
        effect: one sentence saying what `get_predict` changes for this method.

    # Returns
        `wrapper`, updated in place.
    """
    functools.update_wrapper(wrapper, raw)
    signature = inspect.signature(raw)
    params = list(signature.parameters.values())
    new = inspect.Parameter('get_predict', inspect.Parameter.KEYWORD_ONLY, default=False)
    if params and params[-1].kind == inspect.Parameter.VAR_KEYWORD:
        params.insert(len(params) - 1, new)
    else:
        params.append(new)
    wrapper.__signature__ = signature.replace(parameters=params)
    wrapper.__doc__ = _with_argument_doc(raw.__doc__, GET_PREDICT_DOC % effect)
    return wrapper


def wraps_original(original):
    """Decorator: the replacement looks like `original` (name, doc, module,
    `__wrapped__`), in one place for every wrapper the patch installs."""
    return functools.wraps(original)


_FIT_EFFECT = ("At each epoch end `logs['%s']` holds the validation batches'\n"
               "    `{'y_true': [...], 'y_pred': [...]}`." % LOGS_KEY)
_EVALUATE_EFFECT = 'Then returns `(metrics, gts_and_preds)`.'


def _fit_validates(arguments, family):
    return publishing.fit_validates(arguments.get('validation_data'),
                                    arguments.get('validation_split', 0.),
                                    arguments.get('validation_steps'), family)


def _generator_validates(arguments, family):
    return arguments.get('validation_data') is not None


def _make_fit_method(raw, family, name, validates, window):
    """`fit` (`window=False`: its `val_f` is wrapped in the `fit_loop` hook) or
    `fit_generator` (`window=True`: the test function is swapped around Keras' own
    validation call). A `fit` that Keras hands to `fit_generator` (a generator or
    `Sequence` as `x`, Keras >= 2.2.5) is captured as `fit_generator` is."""
    signature = inspect.signature(raw)

    def fit_method(self, *args, **kwargs):
        get_predict = kwargs.pop('get_predict', False)
        try:
            bound = signature.bind(self, *args, **kwargs)
        except TypeError:
            # Arguments the method does not take: Keras' (Python's) own error.
            return raw(self, *args, **kwargs)
        arguments = bound.arguments
        windowed = window or family.fit_hands_to_fit_generator(arguments.get('x'))
        callbacks, capture = publishing.fit_call(
            self, name, get_predict, arguments.get('callbacks'),
            lambda: (_generator_validates if windowed and not window else validates)(
                arguments, family), family)
        if capture is None:
            if callbacks is arguments.get('callbacks'):
                return raw(self, *args, **kwargs)
            # Only callbacks of a `capturing` block to add.
            arguments['callbacks'] = callbacks
            return raw(*bound.args, **bound.kwargs)
        arguments['callbacks'] = capture.callbacks(callbacks, window=windowed)
        # The model whose training loop runs: `self`, or the inner model a Keras 2.1
        # `Sequential` forwards to.
        trained = family.compiled_model(self)
        if not windowed:
            attach(trained, _PENDING_FIT_LOOP, capture)
        capture.begin(arguments['callbacks'])
        try:
            return raw(*bound.args, **bound.kwargs)
        finally:
            detach(trained, _PENDING_FIT_LOOP)
            capture.end()

    # `entry_point` takes the call's name (`running_call`) from the function it marks.
    fit_method.__name__ = name
    return with_get_predict(raw, publishing.entry_point(fit_method), _FIT_EFFECT)


def make_fit(raw, family):
    return _make_fit_method(raw, family, 'fit', _fit_validates, window=False)


def make_fit_generator(raw, family):
    return _make_fit_method(raw, family, 'fit_generator', _generator_validates, window=True)


def make_window_fit(raw, family):
    """tf.keras `fit`: captured by the window, as `fit_generator` is."""
    return _make_fit_method(raw, family, 'fit', _fit_validates, window=True)


def make_make_test_function(raw, family):
    """tf.keras `Model._make_test_function`: while the model's test function is a
    capturing one, a test function Keras rebuilds is wrapped again."""
    @wraps_original(raw)
    def make_test_function(self, *args, **kwargs):
        before = family.test_function_set_on(self)
        result = raw(self, *args, **kwargs)
        publishing.keep_capturing(family, self, before)
        return result

    return make_test_function


def _make_evaluate(raw, family):
    def evaluate(self, *args, **kwargs):
        capture = publishing.evaluate_capture(self, kwargs.pop('get_predict', False), family)
        if capture is None:
            return raw(self, *args, **kwargs)
        return capture.run(lambda: raw(self, *args, **kwargs))

    evaluate.__name__ = raw.__name__
    return with_get_predict(raw, publishing.entry_point(evaluate), _EVALUATE_EFFECT)


make_evaluate = make_evaluate_generator = _make_evaluate


def make_refusal(raw, reason):
    """A model method of a stack `install()` left stock (`reason`: why): a call that
    asks for capture (`get_predict`, or an open `capturing` block) raises at its start
    instead of training without it; any other call is the original call."""
    @wraps_original(raw)
    def refusing(self, *args, **kwargs):
        if kwargs.pop('get_predict', False) or requests.open_blocks():
            raise RuntimeError('`get_predict` cannot capture on this Keras: %s' % reason)
        return raw(self, *args, **kwargs)

    return refusing


def make_fit_loop(raw, family):
    signature = inspect.signature(raw)
    # `val_f` or `val_function`, by Keras version.
    validation_argument = family.validation_argument

    @wraps_original(raw)
    def fit_loop(model, *args, **kwargs):
        capture = detach(model, _PENDING_FIT_LOOP)
        if capture is None:
            return raw(model, *args, **kwargs)
        bound = signature.bind(model, *args, **kwargs)
        val_f = bound.arguments.get(validation_argument)
        if val_f is not None:
            bound.arguments[validation_argument] = capture.validation_function(val_f)
        return raw(*bound.args, **bound.kwargs)

    return fit_loop
