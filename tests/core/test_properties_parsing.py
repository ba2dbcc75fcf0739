"""Property-based tests (Hypothesis): `get_predict` parsing and `concat_batches`."""
import numpy as np
import pytest
import scipy.sparse
from hypothesis import given, settings, strategies as st

from keras_getpredict import GtsAndPreds, concat_batches
from keras_getpredict.core.selection import (GATHER_NAMES, SHARDS_NAMES, Selection,
                                             parse_get_predict)

# Cheap (about 1 ms a case): more cases than the profile's default.
MANY = settings(max_examples=200)

NAMES = st.text(min_size=1, max_size=8)
NAME_LISTS = st.lists(NAMES, min_size=1, max_size=5)


def _first_occurrences(names):
    seen = []
    for name in names:
        if name not in seen:
            seen.append(name)
    return tuple(seen)


# --------------------------------------------------------------- get_predict

@MANY
@given(st.one_of(NAMES, NAME_LISTS, NAME_LISTS.map(tuple)))
def test_names_select_those_outputs_in_order_without_repeats(value):
    selection = parse_get_predict(value)
    names = [value] if isinstance(value, str) else list(value)
    assert selection.outputs == _first_occurrences(names)
    assert (selection.inputs, selection.gather, selection.shards) == ((), None, 'contiguous')


@MANY
@given(st.fixed_dictionaries({}, optional={
    'outputs': st.one_of(st.just(True), st.none(), NAMES, NAME_LISTS),
    'inputs': st.one_of(NAMES, st.lists(NAMES, max_size=4)),
    'gather': st.sampled_from(GATHER_NAMES + (True, False, None)),
    'shards': st.sampled_from(SHARDS_NAMES)}))
def test_valid_dicts_give_the_selection_they_describe(value):
    selection = parse_get_predict(value)
    outputs = value.get('outputs', True)
    if outputs in (True, None):
        assert selection.outputs is None
    else:
        assert selection.outputs == _first_occurrences([outputs] if isinstance(outputs, str)
                                                       else outputs)
    inputs = value.get('inputs', ())
    assert selection.inputs == _first_occurrences([inputs] if isinstance(inputs, str)
                                                  else inputs)
    gather = value.get('gather')
    assert selection.gather == ('all' if gather is True else gather)
    assert selection.shards == value.get('shards', 'contiguous')


ANYTHING = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=5),
              st.binary(max_size=3)),
    lambda children: st.one_of(st.lists(children, max_size=3),
                               st.dictionaries(st.sampled_from(['outputs', 'inputs', 'gather',
                                                                'shards', 'other']),
                                               children, max_size=4)),
    max_leaves=8)


@MANY
@given(ANYTHING)
def test_any_value_is_a_selection_off_or_a_typeerror_or_valueerror_naming_get_predict(value):
    try:
        selection = parse_get_predict(value)
    except (TypeError, ValueError) as e:
        assert 'get_predict' in str(e)
        return
    assert selection is None or isinstance(selection, Selection)
    if selection is None:
        assert value is None or value is False
    elif selection.outputs is not None:
        assert selection.outputs and all(isinstance(n, str) for n in selection.outputs)


# ------------------------------------------------------------ concat_batches

DTYPES = st.sampled_from(['float32', 'float64', 'int32', 'int64', 'uint8', 'bool'])


@st.composite
def batches_of_outputs(draw):
    """(GtsAndPreds, the whole arrays it was cut from): several outputs, random
    trailing shapes, dtypes and batch sizes; some outputs without targets."""
    sizes = draw(st.lists(st.integers(0, 5), min_size=1, max_size=4))
    n_outputs = draw(st.integers(1, 3))
    seed = draw(st.integers(0, 2 ** 16))
    rng = np.random.RandomState(seed)
    whole_true, whole_pred = [], []
    for _ in range(n_outputs):
        tail = tuple(draw(st.lists(st.integers(1, 3), max_size=2)))
        dtype = draw(DTYPES)
        whole_pred.append((rng.rand(sum(sizes), *tail) * 10).astype(dtype))
        whole_true.append(None if draw(st.booleans()) else
                          (rng.rand(sum(sizes), *tail) * 10).astype(draw(DTYPES)))
    ends = np.cumsum(sizes)

    def cut(a):
        return None if a is None else [a[e - s:e] for s, e in zip(sizes, ends)]
    pred_batches = [cut(a) for a in whole_pred]
    true_batches = [cut(a) for a in whole_true]
    if n_outputs == 1:
        y_pred, y_true = pred_batches[0], true_batches[0] or [None] * len(sizes)
    else:
        y_pred = [[out[b] for out in pred_batches] for b in range(len(sizes))]
        y_true = [[None if out is None else out[b] for out in true_batches]
                  for b in range(len(sizes))]
    names = ['out_%d' % i for i in range(n_outputs)]
    inputs = {}
    if draw(st.booleans()):
        dense = rng.rand(sum(sizes), 4) * (rng.rand(sum(sizes), 4) > 0.6)
        inputs['sparse'] = [scipy.sparse.csr_matrix(dense[e - s:e]) for s, e in zip(sizes, ends)]
        inputs['dense'] = cut(dense)
    return GtsAndPreds(names, y_true, y_pred, inputs), whole_true, whole_pred, inputs


@MANY
@given(batches_of_outputs())
def test_concat_batches_gives_back_the_arrays_the_batches_were_cut_from(case):
    gts_and_preds, whole_true, whole_pred, inputs = case
    flat = concat_batches(gts_and_preds)
    several = len(whole_pred) > 1
    preds = flat['y_pred'] if several else [flat['y_pred']]
    trues = flat['y_true'] if several else [flat['y_true']]
    for got, want in zip(preds, whole_pred):
        assert got.dtype == want.dtype
        np.testing.assert_array_equal(got, want)
    for got, want in zip(trues, whole_true):
        if want is None:
            assert got is None
        else:
            np.testing.assert_array_equal(got, want)
    if inputs:
        assert scipy.sparse.issparse(flat['inputs']['sparse'])
        np.testing.assert_array_equal(flat['inputs']['sparse'].toarray(), flat['inputs']['dense'])


@MANY
@given(st.lists(st.tuples(st.integers(1, 3), st.integers(1, 3)), min_size=2, max_size=4))
def test_batches_of_different_trailing_shapes_raise_valueerror(shapes):
    batches = [np.zeros(s) for s in shapes]
    if len(set(s[1:] for s in shapes)) == 1:
        assert concat_batches({'y_true': [None] * len(batches), 'y_pred': batches})[
            'y_pred'].shape == (sum(s[0] for s in shapes), shapes[0][1])
    else:
        with pytest.raises(ValueError, match='batch shapes differ beyond the first'):
            concat_batches({'y_true': [None] * len(batches), 'y_pred': batches})
