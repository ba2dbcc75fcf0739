"""Where the checkout's files are, for tests that read docs or start processes."""
import os

#: tests/
TESTS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
#: The checkout's root (keras_getpredict/, docs/, examples/).
ROOT = os.path.dirname(TESTS)
