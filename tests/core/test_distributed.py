"""The Horovod gather without Horovod: payloads, shard order, and the protocol run by
threads standing in for ranks. The real `horovodrun` jobs are in test_horovod_run.py."""
import re
import sys
import threading
import types

import numpy as np
import pytest
from support.stack import STACK

from keras_getpredict.core import families
from keras_getpredict.core.horovod import gather as distributed
from keras_getpredict.core.results import GtsAndPreds, concat_batches
from keras_getpredict.core.selection import parse_get_predict


def shard_of(samples, batch_size, two_outputs=False, with_input=False):
    """A `GtsAndPreds` as `BatchRecorder` builds it; every value derives from the
    sample number, so any reordering shows."""
    samples = np.asarray(samples)
    y_true, y_pred, xs = [], [], []
    for start in range(0, len(samples), batch_size):
        s = samples[start:start + batch_size]
        true = np.stack([s, -s], axis=1).astype(np.float32)
        pred = (10.0 * s[:, None]).astype(np.float32)
        if two_outputs:
            y_true.append([true, None])
            y_pred.append([pred, s.astype(np.int64)])
        else:
            y_true.append(true)
            y_pred.append(pred)
        xs.append(s.astype(np.int32)[:, None])
    names = ['dense', 'ids'] if two_outputs else ['dense']
    return GtsAndPreds(names, y_true, y_pred, {'x': xs} if with_input else None)


def same(a, b):
    """Structural equality of two `GtsAndPreds`, dtypes included."""
    assert a.output_names == b.output_names
    assert sorted(a) == sorted(b)
    for key in ('y_true', 'y_pred'):
        assert len(a[key]) == len(b[key])
        for ea, eb in zip(a[key], b[key]):
            parts_a = ea if isinstance(ea, list) else [ea]
            parts_b = eb if isinstance(eb, list) else [eb]
            for pa, pb in zip(parts_a, parts_b):
                if pa is None or pb is None:
                    assert pa is None and pb is None
                else:
                    assert pa.dtype == pb.dtype
                    np.testing.assert_array_equal(pa, pb)
    for name in a.get('inputs', {}):
        assert len(a['inputs'][name]) == len(b['inputs'][name])
        for xa, xb in zip(a['inputs'][name], b['inputs'][name]):
            if xa is None or xb is None:
                assert xa is None and xb is None
                continue
            assert xa.dtype == xb.dtype
            np.testing.assert_array_equal(xa, xb)


@pytest.mark.parametrize('two_outputs', [False, True])
def test_encode_decode_round_trip_keeps_structure_and_dtypes(two_outputs):
    original = shard_of(range(7), 3, two_outputs=two_outputs, with_input=True)
    encoded = distributed.encode(original)
    assert encoded.dtype == np.uint8 and encoded.ndim == 1
    same(distributed.decode(encoded), original)


def test_encode_decode_keeps_unusual_dtypes_shapes_and_missing_values():
    y_true = [[np.array([True, False]), np.array([u'cat', u'dog'])],
              [np.array([False]), np.array([u'bird'])]]
    y_pred = [[np.arange(2, dtype='>f8'), np.zeros((2, 0, 3), np.int16)],
              [np.arange(1, dtype='>f8'), np.zeros((1, 0, 3), np.int16)]]
    original = GtsAndPreds(['flag', 'name'], y_true, y_pred,
                           {'x': [np.array([1, 2], np.uint8), None]})
    decoded = distributed.decode(distributed.encode(original))
    same(decoded, original)
    assert decoded['inputs']['x'][1] is None
    assert decoded['y_pred'][0][1].shape == (2, 0, 3)
    # Each array is its own writable copy, not a view of the received buffer.
    decoded['y_pred'][0][0][0] = 5.0


@pytest.mark.parametrize('bad', [np.array([{'a': 1}], dtype=object),
                                 np.zeros(2, dtype=[('a', 'f4'), ('b', 'i4')])])
def test_encode_refuses_object_and_structured_arrays(bad):
    with pytest.raises(TypeError, match="'y_true' of batch 0"):
        distributed.encode(GtsAndPreds(['out'], [bad], [np.zeros((1, 1))]))


def test_merge_contiguous_is_rank_then_batch_and_restores_block_splits():
    samples = np.arange(11)
    blocks = np.array_split(samples, 3)
    merged = distributed.merge_contiguous([shard_of(b, 2, with_input=True) for b in blocks])
    flat = concat_batches(merged)
    np.testing.assert_array_equal(flat['y_pred'][:, 0], 10.0 * samples)
    np.testing.assert_array_equal(flat['y_true'][:, 0], samples)
    np.testing.assert_array_equal(flat['inputs']['x'][:, 0], samples)
    # Batches stay as each rank ran them: 2+2 from rank 0 (4 samples), then 2+2, 2+1.
    assert [len(b) for b in merged['y_pred']] == [2, 2, 2, 2, 2, 1]


@pytest.mark.parametrize('two_outputs', [False, True])
def test_merge_strided_restores_sample_order_of_uneven_shards(two_outputs):
    samples = np.arange(11)
    per_rank = [shard_of(samples[r::3], 2, two_outputs, with_input=True) for r in range(3)]
    merged = distributed.merge_strided(per_rank)
    whole = shard_of(samples, 2, two_outputs, with_input=True)
    same(merged, whole)


def test_merge_strided_refuses_sizes_a_strided_split_cannot_give():
    per_rank = [shard_of(range(2), 2), shard_of(range(2, 6), 2)]
    with pytest.raises(ValueError, match=r"'strided'.*\[2, 4\]"):
        distributed.merge_strided(per_rank)


class NeverMatched(Exception):
    """The ranks entered collectives of different names: Horovod would wait for good."""


class ThreadRanks(object):
    """In-process stand-in for the Horovod collectives: one thread per rank. As Horovod,
    it matches collectives by kind and name; ranks in different ones raise `NeverMatched`
    where Horovod would hang."""

    def __init__(self, size):
        self.size = size
        self.barrier = threading.Barrier(size, timeout=20)
        self.slots = [None] * size
        self.names = [None] * size
        self.calls = [0] * size

    def for_rank(self, rank):
        ranks = self

        class Collectives(object):
            def _exchange(self, name, value, combine):
                ranks.calls[rank] += 1
                ranks.names[rank] = name
                ranks.slots[rank] = np.asarray(value)
                ranks.barrier.wait()
                names = list(ranks.names)
                out = None if len(set(names)) > 1 else combine(ranks.slots)
                ranks.barrier.wait()
                if out is None:
                    raise NeverMatched('collectives per rank: %s' % names)
                return out

            def rows(self, row, label):
                row = np.asarray(row, np.int64).reshape(1, -1)
                return self._exchange(('rows', label, row.shape[1]), row,
                                      lambda slots: np.concatenate(slots, axis=0))

            def payloads(self, payload, label):
                return self._exchange(('payloads', label), payload,
                                      lambda slots: np.concatenate(slots, axis=0))

            def sum(self, vector, label):
                return self._exchange(('sum', label, np.size(vector)), vector,
                                      lambda slots: np.sum(slots, axis=0))

        collectives = Collectives()
        collectives.rank = rank
        return collectives

    def run(self, per_rank, function=None, **kwargs):
        results, errors = [None] * self.size, [None] * self.size
        function = function or distributed.gather

        def work(rank):
            try:
                results[rank] = function(per_rank[rank], collectives=self.for_rank(rank),
                                         **kwargs)
            except Exception as e:  # noqa: B902 - reported per rank below
                errors[rank] = e

        threads = [threading.Thread(target=work, args=(r,)) for r in range(self.size)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        return results, errors


def test_gather_to_all_gives_every_rank_the_whole_set_in_order():
    samples = np.arange(9)
    ranks = ThreadRanks(2)
    per_rank = [shard_of(b, 3, with_input=True) for b in np.array_split(samples, 2)]
    results, errors = ranks.run(per_rank, to='all')
    assert errors == [None, None]
    for result in results:
        np.testing.assert_array_equal(concat_batches(result)['y_pred'][:, 0], 10.0 * samples)
    assert ranks.calls == [2, 2]


def test_gather_to_root_leaves_other_ranks_without_predictions():
    ranks = ThreadRanks(3)
    per_rank = [shard_of(np.arange(10)[r::3], 2) for r in range(3)]
    results, errors = ranks.run(per_rank, to='root', shards='strided')
    assert errors == [None] * 3
    np.testing.assert_array_equal(concat_batches(results[0])['y_pred'][:, 0],
                                  10.0 * np.arange(10))
    assert results[1] is None and results[2] is None


def test_different_step_counts_raise_on_every_rank_after_one_collective():
    ranks = ThreadRanks(2)
    # Rank 0 ran 3 batches, rank 1 ran 2: the payload allgather must not be reached.
    results, errors = ranks.run([shard_of(range(6), 2), shard_of(range(6, 10), 2)])
    for error in errors:
        assert isinstance(error, ValueError)
        assert 'different numbers of steps: [3, 2]' in str(error)
    assert ranks.calls == [1, 1]


def test_ranks_with_nothing_recorded_still_take_part_and_get_none():
    ranks = ThreadRanks(2)
    empty = GtsAndPreds(['dense'])
    results, errors = ranks.run([empty, GtsAndPreds(['dense'])])
    assert errors == [None, None] and results == [None, None]
    assert ranks.calls == [2, 2]


@pytest.fixture
def fake_horovod(monkeypatch):
    """A module where `horovod.tensorflow` would be, reporting `state['size']` ranks."""
    state = {'initialized': True, 'size': 2}
    module = types.ModuleType(families.HOROVOD_MODULE)
    module.is_initialized = lambda: state['initialized']
    module.size = lambda: state['size']
    module.rank = lambda: 0
    monkeypatch.setitem(sys.modules, families.HOROVOD_MODULE, module)
    return state


def combiner(value, default):
    """The Horovod combiner of a call with `get_predict=value` made by a method whose
    default is `default` (`fit`: 'all', `evaluate`: False)."""
    from keras_getpredict.core.modes import combiner_for, mode_for
    from keras_getpredict.core.plan import gather_for
    method = {'all': 'fit', False: 'evaluate'}[default]
    selection = parse_get_predict(value)
    return combiner_for(mode_for(selection, families.for_stack(STACK)), selection,
                        gather_for(method, selection))


def test_nothing_is_gathered_without_horovod(monkeypatch):
    monkeypatch.delitem(sys.modules, families.HOROVOD_MODULE, raising=False)
    assert families.horovod_if_active() is None
    assert combiner(True, default='all') is None
    assert combiner({'gather': 'root'}, 'all') is None


def test_horovod_without_is_initialized_is_active_once_initialised(fake_horovod, monkeypatch):
    # Horovod 0.19 has no `is_initialized`; its `size()` raises until `hvd.init()`.
    module = sys.modules[families.HOROVOD_MODULE]
    del module.is_initialized

    def size():
        if not fake_horovod['initialized']:
            raise ValueError('Horovod has not been initialized; use hvd.init().')
        return fake_horovod['size']
    module.size = size
    assert families.horovod_if_active() is module
    fake_horovod['initialized'] = False
    assert families.horovod_if_active() is None


def test_the_combiner_follows_horovod_state_and_the_choice(fake_horovod):
    assert combiner(True, default='all') is not None
    assert combiner({'reduce': {'num_classes': 2}}, default='all') is not None
    # evaluate* default: off unless asked.
    assert combiner(True, default=False) is None
    assert combiner({'gather': 'all'}, False) is not None
    assert combiner({'gather': False}, 'all') is None
    fake_horovod['size'] = 1
    assert combiner(True, default='all') is None
    fake_horovod['size'] = 2
    fake_horovod['initialized'] = False
    assert combiner(True, default='all') is None


def test_importing_keras_getpredict_does_not_import_horovod():
    import subprocess
    code = ('import sys, keras_getpredict; keras_getpredict.install(); '
            'print(any(m.startswith("horovod") for m in sys.modules))')
    out = subprocess.check_output([sys.executable, '-c', code], stderr=subprocess.STDOUT)
    assert out.strip().endswith(b'False')


@pytest.mark.parametrize('value, message', [
    ({'gather': 'rank0'}, r"`get_predict\['gather'\]` should be 'all', 'root'"),
    ({'gather': 1}, r"`get_predict\['gather'\]`"),
    ({'shards': 'random'}, r"`get_predict\['shards'\]` should be 'contiguous' or 'strided'"),
    ({'gahter': 'all'}, r"Unknown keys in `get_predict`: \['gahter'\]"),
])
def test_bad_gather_options_are_refused(value, message):
    with pytest.raises(ValueError, match=message):
        parse_get_predict(value)


def test_gather_options_are_parsed_and_do_not_change_what_is_fetched():
    plain = parse_get_predict({'outputs': ['a']})
    chosen = parse_get_predict({'outputs': ['a'], 'gather': True, 'shards': 'strided'})
    assert (chosen.gather, chosen.shards) == ('all', 'strided')
    assert (plain.gather, plain.shards) == (None, 'contiguous')
    assert chosen.key == plain.key


def test_metric_average_callback_steps_over_predictions_only_inside_the_block(monkeypatch):
    module = types.ModuleType(families.HOROVOD_CALLBACKS_MODULE)

    class MetricAverageCallbackImpl(object):
        """Like Horovod's: turns every logs value into a tensor (here: a float)."""

        def _average_metrics_in_place(self, logs):
            for key, value in sorted(logs.items()):
                logs[key] = float(value) / 2.0

    module.MetricAverageCallbackImpl = MetricAverageCallbackImpl
    monkeypatch.setitem(sys.modules, families.HOROVOD_CALLBACKS_MODULE, module)
    callback, other = MetricAverageCallbackImpl(), object()
    predictions = GtsAndPreds(['dense'], [np.zeros((1, 1))], [np.ones((1, 1))])
    logs = {'val_loss': 3.0, 'val_gts_and_preds': predictions}
    restore = distributed.step_over_predictions_in_metric_averages(
        [other, callback], families.for_stack(STACK))
    callback._average_metrics_in_place(logs)
    restore()
    assert logs['val_loss'] == 1.5 and logs['val_gts_and_preds'] is predictions
    assert '_average_metrics_in_place' not in vars(callback)
    with pytest.raises(TypeError):
        callback._average_metrics_in_place(logs)  # the stock method, as before


def test_a_horovod_without_the_averaging_method_is_named_not_skipped(monkeypatch):
    # If Horovod renames the method, stepping over the predictions would silently do
    # nothing and its allreduce would fail on them: install() and fit refuse instead.
    module = types.ModuleType(families.HOROVOD_CALLBACKS_MODULE)

    class MetricAverageCallbackImpl(object):
        def _average_metrics_renamed(self, logs):
            pass

    module.MetricAverageCallbackImpl = MetricAverageCallbackImpl
    monkeypatch.setitem(sys.modules, families.HOROVOD_CALLBACKS_MODULE, module)
    name = 'horovod._keras.callbacks.MetricAverageCallbackImpl._average_metrics_in_place'
    assert families.for_stack(STACK).missing_internals() == [name]
    with pytest.raises(RuntimeError, match=re.escape(name)):
        families.for_stack(STACK).check()
    with pytest.raises(RuntimeError, match=re.escape(name)):
        distributed.step_over_predictions_in_metric_averages(
            [MetricAverageCallbackImpl()], families.for_stack(STACK))


def test_ranks_choosing_different_gather_settings_raise_on_every_rank():
    ranks = ThreadRanks(2)
    per_rank = [shard_of(range(4), 2), shard_of(range(4, 8), 2)]

    def gather(gts_and_preds, collectives):
        to = 'all' if collectives.rank == 0 else 'root'
        return distributed.gather(gts_and_preds, to=to, collectives=collectives)

    results, errors = ranks.run(per_rank, function=gather)
    for error in errors:
        assert isinstance(error, ValueError)
        assert 'gather: rank 0 "all", rank 1 "root"' in str(error)
    # The handshake, then the descriptions that differ: no payload exchange.
    assert ranks.calls == [2, 2]


def test_logs_keys_only_some_ranks_have_raise_on_every_rank():
    from keras_getpredict.core.horovod.gather import check_same_keys
    ranks = ThreadRanks(3)
    keys = [['val_loss', 'val_f1_macro', 'val_accuracy'], ['val_loss'], ['val_loss']]
    results, errors = ranks.run(keys, function=lambda k, collectives: check_same_keys(
        k, collectives))
    for error in errors:
        assert isinstance(error, ValueError)
        assert "'val_accuracy' on ranks [0], 'val_f1_macro' on ranks [0]" in str(error)
    # Equal keys cost one exchange.
    ranks = ThreadRanks(2)
    results, errors = ranks.run([['a', 'b'], ['b', 'a']],
                                function=lambda k, collectives: check_same_keys(k, collectives))
    assert errors == [None, None] and ranks.calls == [1, 1]


def test_a_collective_no_other_rank_joins_raises_after_the_timeout(monkeypatch):
    from keras_getpredict.core.horovod import collectives
    never = threading.Event()

    class StuckSession(object):
        def run(self, op, feed):
            never.wait()

    monkeypatch.setenv(collectives.TIMEOUT_ENV, '0.2')
    with pytest.raises(RuntimeError, match=r"rank 1 waited 0.2 s .* 'counts' exchange.*"
                                           r"KERAS_GETPREDICT_GATHER_TIMEOUT"):
        collectives.bounded_run(StuckSession(), None, {}, 1, 'counts')
    never.set()


@pytest.mark.parametrize('value', ['soon', ' ', '0', '-5', 'nan', 'inf', '1e10'])
def test_a_malformed_timeout_is_a_configuration_error_naming_it(monkeypatch, value):
    from keras_getpredict.core.failures import ConfigurationError
    from keras_getpredict.core.horovod import collectives
    monkeypatch.setenv('KERAS_GETPREDICT_GATHER_TIMEOUT', value)
    with pytest.raises(ConfigurationError) as error:
        collectives.gather_timeout()
    assert '`KERAS_GETPREDICT_GATHER_TIMEOUT` should be a number of seconds, more than 0' \
        in str(error.value)
    assert 'got %r.' % value in str(error.value)
    # Raised before any collective: no rank waits on a setting that cannot be used.
    with pytest.raises(ConfigurationError):
        collectives.bounded_run(None, None, {}, 0, 'counts')


def test_the_timeout_is_the_default_unset_and_the_number_given(monkeypatch):
    from keras_getpredict.core.horovod import collectives
    monkeypatch.delenv('KERAS_GETPREDICT_GATHER_TIMEOUT', raising=False)
    assert collectives.gather_timeout() == collectives.DEFAULT_TIMEOUT == 600.0
    monkeypatch.setenv('KERAS_GETPREDICT_GATHER_TIMEOUT', '')
    assert collectives.gather_timeout() == 600.0
    monkeypatch.setenv('KERAS_GETPREDICT_GATHER_TIMEOUT', ' 2.5 ')
    assert collectives.gather_timeout() == 2.5


def _counts(num_classes=3, outputs=('seg',), batches=2):
    from keras_getpredict.core.reduce_counts import ReduceSpec, ReducedCounts
    counts = ReducedCounts(ReduceSpec(num_classes, bins=4), list(outputs))
    for name in outputs:
        counts[name].confusion[0, 0] = batches
    counts.batches = batches
    return counts


def test_summed_counts_from_ranks_that_count_alike_and_uneven_steps():
    from keras_getpredict.core.horovod.sums import sum_counts
    ranks = ThreadRanks(3)
    results, errors = ranks.run([_counts(batches=3), _counts(batches=2), _counts(batches=0)],
                                function=sum_counts, to='all')
    assert errors == [None] * 3
    for total in results:
        assert total.batches == 5 and total['seg'].confusion[0, 0] == 5
    assert ranks.calls == [2, 2, 2]  # the handshake, the sum


@pytest.mark.parametrize('changed, named', [
    ({'num_classes': 4}, 'num_classes: rank 0 3, rank 1 4'),
    ({'outputs': ('seg', 'edges')}, 'outputs: rank 0 ["seg"], rank 1 ["seg", "edges"]'),
])
def test_ranks_that_count_differently_raise_on_every_rank_before_the_sum(changed, named):
    from keras_getpredict.core.horovod.sums import sum_counts
    ranks = ThreadRanks(2)
    results, errors = ranks.run([_counts(), _counts(**changed)], function=sum_counts, to='all')
    for error in errors:
        assert isinstance(error, ValueError)
        assert 'The Horovod ranks capture differently' in str(error) and named in str(error)
    assert ranks.calls == [2, 2]  # the handshake, the descriptions: never the sum


def test_a_rank_that_gathers_and_one_that_sums_raise_on_every_rank():
    # Both modes start with the same handshake, so the ranks meet there and compare.
    from keras_getpredict.core.horovod.sums import sum_counts
    ranks = ThreadRanks(2)

    def gather_or_sum(recorded, collectives):
        if collectives.rank == 0:
            return distributed.gather(recorded, collectives=collectives)
        return sum_counts(recorded, collectives=collectives)

    results, errors = ranks.run([shard_of(range(4), 2), _counts()], function=gather_or_sum)
    for error in errors:
        assert isinstance(error, ValueError) and not isinstance(error, NeverMatched)
        # Only the mode: the other keys belong to one mode or the other.
        assert str(error).endswith('cannot match: mode: rank 0 "predictions", rank 1 '
                                   '"reduce". Pass the same `get_predict` and the same '
                                   'capturing callbacks on every rank.')
    assert ranks.calls == [2, 2]


@pytest.mark.parametrize('mode', ['gather', 'sum'])
def test_a_rank_whose_capture_failed_takes_part_and_no_rank_publishes(mode):
    from keras_getpredict.core.horovod.sums import sum_counts
    ranks = ThreadRanks(2)
    if mode == 'gather':
        per_rank = [shard_of(range(4), 2), None]
        function = distributed.gather
    else:
        per_rank = [_counts(), None]
        function = sum_counts

    def run(recorded, collectives):
        return function(recorded, collectives=collectives, failed=recorded is None)

    results, errors = ranks.run(per_rank, function=run)
    assert errors == [None, None] and results == [None, None]
    assert ranks.calls == [1, 1]  # the handshake only


def _with_sums(recorded, batches, value):
    from keras_getpredict.core.graph_sums import EpochSums
    recorded['sums'] = EpochSums([('mrcnn_quality', np.full((5, 3), value))], batches)
    return recorded


def _combine_with_sums(get_predict):
    from keras_getpredict.core.modes import FullCapture

    def combine(recorded, collectives):
        selection = parse_get_predict(get_predict)
        return FullCapture(families.for_stack(STACK)).combiner(
            selection, 'all', collectives)(recorded)
    return combine


@pytest.mark.parametrize('with_predictions', [False, True])
def test_graph_sums_are_summed_by_the_reducing_modes_collective(with_predictions):
    from keras_getpredict.mask_rcnn import MaskRCNNQualitySums
    sums = MaskRCNNQualitySums(3)
    ranks = ThreadRanks(3)
    if with_predictions:
        # Gathering needs the same steps: two batches on every rank.
        per_rank = [_with_sums(shard_of(np.arange(4) + 4 * r, 2), 2, r + 1.)
                    for r in range(3)]
        get_predict = {'outputs': True, 'sums': [sums]}
    else:
        # Sums alone: uneven steps, and a rank that validated nothing, add up.
        per_rank = [_with_sums(GtsAndPreds(), b, r + 1.) for r, b in enumerate((3, 2, 0))]
        get_predict = {'sums': [sums]}
    results, errors = ranks.run(per_rank, function=_combine_with_sums(get_predict))
    assert errors == [None] * 3
    for result in results:
        np.testing.assert_array_equal(result['sums']['mrcnn_quality'], np.full((5, 3), 6.))
        assert result['sums'].batches == (6 if with_predictions else 5)
        if with_predictions:
            np.testing.assert_array_equal(concat_batches(result)['y_pred'][:, 0],
                                          10.0 * np.arange(12))
    # The handshake and the sum, then (with predictions) the gather's two.
    assert ranks.calls == ([4, 4, 4] if with_predictions else [2, 2, 2])


def test_a_rank_without_the_graph_sums_raises_on_every_rank():
    from keras_getpredict.mask_rcnn import MaskRCNNQualitySums
    sums = MaskRCNNQualitySums(3)
    ranks = ThreadRanks(2)

    def one_sums(recorded, collectives):
        if collectives.rank == 0:
            return _combine_with_sums({'sums': [sums], 'outputs': True})(recorded, collectives)
        return _combine_with_sums(True)(recorded, collectives)

    results, errors = ranks.run([_with_sums(shard_of(range(2), 2), 1, 1.),
                                 shard_of(range(2, 4), 2)], function=one_sums)
    for error in errors:
        assert isinstance(error, ValueError) and not isinstance(error, NeverMatched)
        assert 'mode: rank 0 "sums", rank 1 "predictions"' in str(error)
