"""The README's runnable example is the shipped quickstart, and it runs."""
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_readme_quickstart_is_the_example_and_runs():
    with open(os.path.join(ROOT, 'examples', 'quickstart.py')) as f:
        example = f.read()
    with open(os.path.join(ROOT, 'README.md')) as f:
        readme = f.read()
    assert '```python\n' + example + '```' in readme
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='2')
    out = subprocess.check_output([sys.executable, os.path.join(ROOT, 'examples', 'quickstart.py')],
                                  env=env, stderr=subprocess.STDOUT, universal_newlines=True)
    assert 'epoch 1: 2 batches, 50 samples' in out
    assert 'from the same 2 batches' in out
