"""The README's runnable example is the shipped quickstart, and it runs; every relative
link in the README and docs/ resolves."""
import glob
import os
import re
import subprocess
import sys

import pytest

from support.paths import ROOT
from support.stack import standalone_only


@standalone_only  # examples/quickstart.py imports standalone Keras
def test_readme_quickstart_is_the_example_and_runs():
    with open(os.path.join(ROOT, 'examples', 'quickstart.py')) as f:
        example = f.read()
    with open(os.path.join(ROOT, 'README.md')) as f:
        readme = f.read()
    assert '```python\n' + example + '```' in readme
    # This checkout's keras_getpredict, whatever the venv has installed.
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='2', PYTHONPATH=os.pathsep.join(
        [ROOT] + [p for p in [os.environ.get('PYTHONPATH')] if p]))
    out = subprocess.check_output([sys.executable, os.path.join(ROOT, 'examples', 'quickstart.py')],
                                  env=env, stderr=subprocess.STDOUT, universal_newlines=True)
    assert 'epoch 1: 2 batches, 50 samples' in out
    assert 'from the same 2 batches' in out


def test_tf_keras_quickstart_is_the_quickstart_on_tf_keras_and_runs():
    # The bar: the quickstart with `from tensorflow import keras` prints the
    # same kind of result.
    from keras_getpredict.core import families
    unsupported = families.unavailable(families.TF_KERAS)
    if unsupported:  # the tf.keras of TensorFlow 1.12-1.14
        pytest.skip(unsupported)
    with open(os.path.join(ROOT, 'examples', 'quickstart_tf_keras.py')) as f:
        example = f.read()
    assert 'from tensorflow import keras' in example and 'from keras' not in example
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='2', PYTHONPATH=os.pathsep.join(
        [ROOT] + [p for p in [os.environ.get('PYTHONPATH')] if p]))
    out = subprocess.check_output(
        [sys.executable, os.path.join(ROOT, 'examples', 'quickstart_tf_keras.py')],
        env=env, stderr=subprocess.STDOUT, universal_newlines=True)
    assert 'epoch 1: 2 batches, 50 samples' in out
    assert 'from the same 2 batches' in out


def _anchor(heading):
    """The anchor GitHub gives a Markdown heading."""
    text = re.sub(r'[^\w\- ]', '', heading.strip().lower())
    return text.replace(' ', '-')


def _anchors(path):
    with open(path) as f:
        text = re.sub(r'```.*?```', '', f.read(), flags=re.S)
    return {_anchor(h) for h in re.findall(r'^#+ (.+)$', text, re.M)}


def test_relative_links_in_readme_and_docs_resolve():
    pages = [os.path.join(ROOT, 'README.md')] + sorted(
        glob.glob(os.path.join(ROOT, 'docs', '*.md')))
    broken = []
    for page in pages:
        with open(page) as f:
            text = re.sub(r'```.*?```', '', f.read(), flags=re.S)
        for target in re.findall(r'\]\(([^)\s]+)\)', text):
            if re.match(r'[a-z]+:', target):
                continue
            path, _, anchor = target.partition('#')
            full = os.path.normpath(os.path.join(os.path.dirname(page), path)) if path else page
            if not os.path.exists(full):
                broken.append('%s: %s (no such file)' % (os.path.relpath(page, ROOT), target))
            elif anchor and full.endswith('.md') and anchor not in _anchors(full):
                broken.append('%s: %s (no such heading)' % (os.path.relpath(page, ROOT), target))
    assert not broken, '\n'.join(broken)
