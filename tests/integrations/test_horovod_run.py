"""Real Horovod jobs (`horovodrun --gloo` on localhost) against a single-process run.

Needs Horovod (marked `horovod`: the `horovod` and `horovod-fork` sessions run it on stock
Keras with `install()` and on the fork, the matrix cells with Horovod too); skipped elsewhere.
Each job is tests/support/horovod_job.py; see there for the model (y_pred = x @ KERNEL + BIAS).
"""
import os
import signal
import subprocess
import sys

import numpy as np
import pytest

pytestmark = pytest.mark.horovod
pytest.importorskip('horovod.keras')
import keras  # noqa: E402

from support import horovod_job  # noqa: E402  (tests/ is on sys.path: pytest rootdir)
from sklearn.metrics import accuracy_score, confusion_matrix, mean_squared_error  # noqa: E402

import keras_getpredict  # noqa: E402
from keras_getpredict import concat_batches  # noqa: E402
from keras_getpredict.callbacks import EpochMetrics  # noqa: E402

from support.paths import ROOT, TESTS  # noqa: E402
HOROVODRUN = os.path.join(os.path.dirname(sys.executable), 'horovodrun')
#: The job's environment for TensorFlow's tf.keras and horovod.tensorflow.keras.
TF_KERAS = {'KERAS_GETPREDICT_STACK': 'tf.keras'}


def horovodrun(ranks, case, samples, out, timeout=240, env=None):
    """Runs one job; kills the whole launch if it outlives `timeout` (a hang)."""
    command = [HOROVODRUN, '--gloo', '-np', str(ranks), '-H', 'localhost:%d' % ranks,
               sys.executable, os.path.join(TESTS, "support", "horovod_job.py"), case, str(out),
               str(samples)]
    # Standalone Keras unless the test asks for tf.keras, whatever this process runs.
    env = dict(dict(os.environ, KERAS_GETPREDICT_STACK='keras'), **(env or {}))
    env = dict(env, PYTHONPATH=os.pathsep.join(
        [ROOT] + os.environ.get('PYTHONPATH', '').split(os.pathsep)))
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               env=env, start_new_session=True)
    try:
        output, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        output, _ = process.communicate()
        pytest.fail('horovodrun hung for %d s:\n%s' % (timeout, output.decode(errors='replace')))
    assert process.returncode == 0, output.decode(errors='replace')
    return [dict(np.load(os.path.join(str(out), '%s_rank%d.npz' % (case, r)),
                         allow_pickle=False))
            for r in range(ranks)]


def single_process(samples):
    """The same validation set in one process: what the gathered logs must equal."""
    keras_getpredict.install()
    x, y = horovod_job.dataset(samples, seed=1)
    model = horovod_job.build_model(distributed=False)
    # EpochMetrics over the whole validation set in one process.
    keep = horovod_job.Keep()
    model.fit_generator(horovod_job.Batches(x, y), 1, epochs=1, verbose=0,
                        validation_data=horovod_job.Batches(x, y),
                        callbacks=[EpochMetrics(task='multiclass'), keep], get_predict=True)
    _, preds = model.evaluate_generator(horovod_job.Batches(x, y), -(-samples // 3),
                                        get_predict={'inputs': ['x']})
    flat = concat_batches(preds)
    # The model is computable by hand; the reference itself is checked too.
    np.testing.assert_allclose(flat['y_pred'], x.dot(horovod_job.KERNEL) + horovod_job.BIAS,
                               rtol=1e-6)
    np.testing.assert_array_equal(flat['y_true'], y)
    flat['metrics'] = np.array(keep.metrics[0])
    assert not np.isnan(flat['metrics']).any()
    return flat


def assert_whole_set(arrays, prefix, reference):
    np.testing.assert_array_equal(arrays[prefix + 'y_true'], reference['y_true'])
    np.testing.assert_allclose(arrays[prefix + 'y_pred'], reference['y_pred'], rtol=1e-6)
    if prefix + 'input_x' in arrays:
        np.testing.assert_array_equal(arrays[prefix + 'input_x'], reference['inputs']['x'])
    # Metrics over the gathered set are the single-process ones.
    for metric in (mean_squared_error,):
        assert metric(arrays[prefix + 'y_true'], arrays[prefix + 'y_pred']) == pytest.approx(
            metric(reference['y_true'], reference['y_pred']), rel=1e-6)
    assert accuracy_score(arrays[prefix + 'y_true'].argmax(1),
                          arrays[prefix + 'y_pred'].argmax(1)) == accuracy_score(
        reference['y_true'].argmax(1), reference['y_pred'].argmax(1))


def assert_same_rows(arrays, prefix, reference):
    """As `assert_whole_set`, in any sample order: stock tf.keras shuffles validation
    arrays inside `fit`, and each rank shuffles its own shard."""
    order = np.lexsort(arrays[prefix + 'y_pred'].T[::-1])
    expected = np.lexsort(reference['y_pred'].T[::-1])
    np.testing.assert_allclose(arrays[prefix + 'y_pred'][order], reference['y_pred'][expected],
                               rtol=1e-6)
    np.testing.assert_array_equal(arrays[prefix + 'y_true'][order], reference['y_true'][expected])


def check_job(ranks, case, samples, tmpdir, env=None, fit_in_order=True):
    reference = single_process(samples)
    per_rank = horovodrun(ranks, case, samples, tmpdir, env=env)
    for rank, arrays in enumerate(per_rank):
        # fit_generator, every epoch, every rank: the whole set in sample order.
        for epoch in (0, 1):
            assert_whole_set(arrays, 'fit_generator_%d_' % epoch, reference)
        # EpochMetrics on the gathered set: the single-process values (float32 after
        # MetricAverageCallback averaged the equal values of every rank).
        for epoch in (0, 1):
            np.testing.assert_allclose(arrays['fit_generator_metrics'][epoch],
                                       reference['metrics'], rtol=1e-6)
        # fit(..., get_predict={'gather': 'root'}): rank 0 only.
        if rank == 0:
            (assert_whole_set if fit_in_order else assert_same_rows)(
                arrays, 'fit_root_', reference)
        else:
            assert 'fit_root_absent' in arrays
        # evaluate_generator gathers only when asked.
        assert_whole_set(arrays, 'evaluate_all_', reference)
        assert_whole_set(arrays, 'evaluate_arrays_all_', reference)
        assert len(arrays['evaluate_own_y_pred']) < samples
    return per_rank


def stock_val_loss_averaged(samples, ranks):
    """Each rank's `val_loss` as stock Keras reports it for its contiguous shard,
    averaged over the ranks as Horovod's MetricAverageCallback does."""
    x, y = horovod_job.dataset(samples, seed=1)
    model = horovod_job.build_model(distributed=False)
    losses = []
    for part_x, part_y in zip(np.array_split(x, ranks), np.array_split(y, ranks)):
        part = horovod_job.Batches(part_x, part_y)
        losses.append(model.evaluate_generator(part, len(part))[0])
    return np.mean(losses)


def test_two_ranks_gather_the_whole_validation_set(tmpdir):
    per_rank = check_job(2, 'even', 12, tmpdir)
    # Horovod's MetricAverageCallback still averaged the losses next to the predictions.
    reference = single_process(12)
    averaged = stock_val_loss_averaged(12, 2)
    if keras.__version__ < '2.3':
        # Equal shards and batches: the average is the whole set's loss (Keras 2.3's
        # evaluate_generator reports its last batch's loss instead).
        assert averaged == pytest.approx(
            mean_squared_error(reference['y_true'], reference['y_pred']), rel=1e-5)
    for arrays in per_rank:
        np.testing.assert_allclose(arrays['fit_generator_val_loss'], [averaged] * 2, rtol=1e-5)
    # Contiguous shards keep each rank's batches: rank 0's two, then rank 1's two.
    assert list(per_rank[0]['fit_generator_0_batch_sizes']) == [3, 3, 3, 3]


def test_tf_keras_two_ranks_gather_the_whole_validation_set(tmpdir):
    # horovod.tensorflow.keras: DistributedOptimizer, BroadcastGlobalVariables and
    # MetricAverageCallback around a tf.keras model; gathered, summed, aligned.
    pytest.importorskip('horovod.tensorflow.keras')
    per_rank = check_job(2, 'even', 12, tmpdir, env=TF_KERAS, fit_in_order=False)
    assert list(per_rank[0]['fit_generator_0_batch_sizes']) == [3, 3, 3, 3]


def test_tf_keras_reducing_mode_sums_counts_over_ranks(tmpdir):
    pytest.importorskip('horovod.tensorflow.keras')
    check_counts(horovodrun(2, 'counts', 13, tmpdir, env=TF_KERAS))


def test_three_uneven_strided_ranks_are_restored_to_sample_order(tmpdir):
    # 13 samples over 3 ranks: 5, 4, 4 (rank r holds r, r+3, ...), 2 steps each.
    per_rank = check_job(3, 'uneven', 13, tmpdir)
    # The ranks' own losses differ; MetricAverageCallback made them agree.
    for arrays in per_rank[1:]:
        np.testing.assert_allclose(arrays['fit_generator_val_loss'],
                                   per_rank[0]['fit_generator_val_loss'], rtol=1e-6)
    # Interleaved back, then cut into batches of the first batch's size.
    assert list(per_rank[1]['fit_generator_1_batch_sizes']) == [3, 3, 3, 3, 1]


def test_different_validation_steps_raise_on_every_rank_instead_of_hanging(tmpdir):
    per_rank = horovodrun(2, 'steps', 12, tmpdir)
    for arrays in per_rank:
        assert 'different numbers of steps: [3, 2]' in str(arrays['error'])
        # Both ranks went on to the next collective together.
        assert float(arrays['after'][0]) == 2.0


def test_reducing_mode_sums_counts_over_ranks_that_validate_different_steps(tmpdir):
    # 13 samples over 2 contiguous shards (7 and 6): 3 and 2 validation steps.
    check_counts(horovodrun(2, 'counts', 13, tmpdir))


def test_graph_sums_are_summed_over_ranks_that_validate_different_steps(tmpdir):
    # 13 samples over 2 contiguous shards: 3 and 2 steps; sums alone, nothing gathered.
    x, _ = horovod_job.dataset(13, seed=1)
    expected = (x.dot(horovod_job.KERNEL) + horovod_job.BIAS).sum(axis=0)
    for arrays in horovodrun(2, 'sums', 13, tmpdir):
        for epoch in range(2):
            np.testing.assert_allclose(arrays['fit_generator_%d_sums' % epoch], expected,
                                       rtol=1e-5)
            assert int(arrays['fit_generator_%d_batches' % epoch]) == 5
            assert int(arrays['fit_generator_%d_kept' % epoch]) == 0


def check_counts(per_rank):
    x, y = horovod_job.dataset(13, seed=1)
    scores = x.dot(horovod_job.KERNEL) + horovod_job.BIAS
    expected = confusion_matrix(y.argmax(1), scores.argmax(1), labels=range(3))
    for arrays in per_rank:
        for epoch in range(2):
            np.testing.assert_array_equal(arrays['fit_generator_%d_confusion' % epoch],
                                          expected)
            assert int(arrays['fit_generator_%d_batches' % epoch]) == 5
            assert arrays['fit_generator_%d_positives' % epoch].sum() == 13
        np.testing.assert_array_equal(arrays['evaluate_all_confusion'], expected)
    # Not gathered unless asked: each rank's own shard.
    assert per_rank[0]['evaluate_own_confusion'].sum() == 7
    assert per_rank[1]['evaluate_own_confusion'].sum() == 6
    # ReduceMetrics next to MetricAverageCallback: the whole set's accuracy everywhere.
    accuracy = np.trace(expected) / 13.
    for arrays in per_rank:
        np.testing.assert_allclose(arrays['fit_generator_count_accuracy'], [accuracy] * 2,
                                   rtol=1e-6)


@pytest.mark.parametrize('case, named', [
    ('counts_bins', 'bins: rank 0 10, rank 1 20'),
    # Both modes start with the same handshake: the ranks meet there and compare.
    ('counts_mode', 'mode: rank 0 "reduce", rank 1 "predictions"'),
])
def test_reducing_mode_asked_differently_on_one_rank_raises_on_every_rank(tmpdir, case, named):
    per_rank = horovodrun(2, case, 12, tmpdir, timeout=120)
    for arrays in per_rank:
        error = str(arrays['error'])
        assert error.startswith('ConfigurationError: The Horovod ranks capture differently')
        assert named in error
        # Both raised at the same epoch end: still in step for one more collective.
        assert float(arrays['after'][0]) == 2.0


def test_reducing_mode_with_another_num_classes_on_one_rank_ends_with_errors(tmpdir):
    per_rank = horovodrun(2, 'counts_classes', 12, tmpdir, timeout=120,
                          env={'KERAS_GETPREDICT_GATHER_TIMEOUT': '10'})
    # Refused on rank 1 before training (its output has 3 units)...
    assert str(per_rank[1]['error']).startswith(
        "ConfigurationError: Output 'scores': `get_predict['reduce']['num_classes']` is 4 "
        'but the output has 3 unit')
    # ...whose exit then fails rank 0's next collective instead of leaving it waiting.
    assert 'Horovod has been shut down' in str(per_rank[0]['error'])


def test_reducing_mode_on_some_ranks_only_raises_within_the_timeout(tmpdir):
    per_rank = horovodrun(2, 'counts_some_ranks', 12, tmpdir, timeout=120,
                          env={'KERAS_GETPREDICT_GATHER_TIMEOUT': '10'})
    assert str(per_rank[0]['error']).startswith('RanksDidNotJoin: Horovod rank 0 waited 10 s')
    assert 'Horovod has been shut down' in str(per_rank[1]['error'])


def test_get_predict_on_some_ranks_only_raises_on_every_rank_within_the_timeout(tmpdir):
    per_rank = horovodrun(2, 'some_ranks', 12, tmpdir, timeout=120,
                          env={'KERAS_GETPREDICT_GATHER_TIMEOUT': '10'})
    assert str(per_rank[0]['error']).startswith('RanksDidNotJoin: Horovod rank 0 waited 10 s')
    # The other rank's own collective failed once rank 0 shut Horovod down.
    assert 'Horovod has been shut down' in str(per_rank[1]['error'])


def test_epoch_metrics_on_the_root_only_next_to_metric_average_raises_on_every_rank(tmpdir):
    per_rank = horovodrun(2, 'root_metrics', 12, tmpdir, timeout=120)
    for arrays in per_rank:
        error = str(arrays['error'])
        assert error.startswith(
            "ConfigurationError: The Horovod ranks' epoch logs hold different keys")
        assert "'val_f1_macro' on ranks [0]" in error
        assert float(arrays['after'][0]) == 2.0
