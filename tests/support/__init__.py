"""What the tests share: models whose outputs can be computed by hand, data that says
which sample it is, drawn Mask R-CNN shapes, a Horovod job, a library-style `train()`,
the libraries tier's checks. Not tests themselves (pytest collects `tests/test_*.py`)."""
