"""Turning captured predictions into numbers, pictures and files (needs the
`keras-getpredict[metrics]` extra: scikit-learn and matplotlib)."""
