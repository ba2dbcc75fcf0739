"""The capture mode of a call, chosen once from its selection and passed down.

Full capture keeps every validation batch (`BatchRecorder`, `BatchFetches`) and gathers
the shards under Horovod; the reducing mode (`get_predict['reduce']`) folds each batch
into counts (`ReducingRecorder`, `GraphCountingFetches` or numpy) and sums them. A mode
gives the recorder, the fetches of the recording function, the Horovod combiner and the
check made before training: no other module asks which mode a call is in. A mode
holds the call's Keras family (`core.families`) and hands it to what it makes.
"""
from __future__ import absolute_import

from .recording import BatchFetches, BatchRecorder
from .graph_sums import SUMS_KEY
from .graph_reduce import GraphCountingFetches
from .horovod.collectives import active_collectives
from .horovod.gather import gather
from .horovod.sums import sum_counts, sum_sums
from .reduce_counts import ReducingRecorder, check_class_axes, expected_output_names
from .results import GtsAndPreds


class _Mode(object):
    """What every mode holds: the call's Keras family."""

    def __init__(self, family):
        self.family = family


class FullCapture(_Mode):
    """Every batch kept, as captured (`get_predict=True`, outputs, inputs, layers)."""

    def check(self, model, selection):
        """Raises before training when the selection cannot work on `model`."""

    def recorder(self, model, selection):
        return BatchRecorder(selection.sums)

    def fetches(self, model, stock_function, selection):
        return BatchFetches(model, stock_function, selection, self.family)

    def combiner(self, selection, to, collectives):
        """`(recorded, failed) -> whole set`: the graph sums summed across the ranks
        (`sum_sums`), then the shards gathered (unless only sums are captured)."""
        def combine(recorded, failed=False):
            summed = None
            if selection.sums:
                totals = None if failed else recorded.pop(SUMS_KEY)
                summed = sum_sums(totals, selection.sums, to, collectives, failed)
            if selection.keeps_arrays:
                whole = gather(recorded, to, selection.shards, collectives, failed)
            else:
                whole = None if summed is None or not summed.batches else GtsAndPreds()
            if whole is not None and summed is not None:
                whole[SUMS_KEY] = summed
            return whole
        return combine


class Reducing(_Mode):
    """Each batch folded into counts, then dropped (`get_predict['reduce']`)."""

    def check(self, model, selection):
        # A `num_classes` that a known class axis contradicts: before the first batch.
        check_class_axes(model, selection, self.family)

    def recorder(self, model, selection):
        return ReducingRecorder(selection.reduce,
                                expected_output_names(model, selection, self.family))

    def fetches(self, model, stock_function, selection):
        fetches_class = GraphCountingFetches if selection.reduce.on_graph else BatchFetches
        return fetches_class(model, stock_function, selection, self.family)

    def combiner(self, selection, to, collectives):
        """`(counts, failed) -> summed counts`: fixed-size, so summed, not gathered."""
        return lambda counts, failed=False: sum_counts(counts, to, collectives, failed)


def mode_for(selection, family):
    """The mode of a call with this `Selection`, on a model of `family`."""
    return (Reducing if selection.reduce is not None else FullCapture)(family)


def combiner_for(mode, selection, to):
    """What the publisher and the evaluate methods call on what they recorded.

    # Arguments
        mode: the call's mode.
        selection: the call's `Selection` (its `shards`).
        to: where the recorded batches go (`Plan.gather`: `'all'`, `'root'`, or
            `False`, the method's default already applied by `core/plan.py`).

    # Returns
        A function `(recorded, failed) -> whole set or None`, or `None` when nothing
        is to be combined (no Horovod, one rank, or combining off).
    """
    if not to:
        return None
    collectives = active_collectives(mode.family)
    if collectives is None:
        return None
    return mode.combiner(selection, to, collectives)
