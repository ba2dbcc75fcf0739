"""Keras 2.2.4's own test suite as a CI gate for keras-getpredict (see run_gate.py)."""
