"""Make a patched method look like the original plus one keyword: `get_predict`."""
from __future__ import absolute_import

import functools
import inspect
import re

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
