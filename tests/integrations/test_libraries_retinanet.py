"""keras-retinanet 0.5.1 as a client: its `train.py` `main()`, unedited (its Cython
extension compiled at install), on a drawn CSV data set with random weights
(`--no-weights`), with its default `--workers 1` (so `use_multiprocessing=True`) and
capture switched on by a `capturing` block. Runs in `nox -s libraries`; skipped where
the library is not installed."""
import csv
import os
import re

import numpy as np
import pytest

pytestmark = pytest.mark.libraries
pytest.importorskip('keras_retinanet')

import keras_getpredict  # noqa: E402
from support.paths import ROOT  # noqa: E402
from support.library_clients import (CaptureRecorder, assert_y_pred_is_predict,  # noqa: E402
                                     matching_index)

CLASSES = ['rectangle', 'disc']
HEIGHT, WIDTH = 64, 96


def _recipe(first_line):
    """The python block of docs/libraries.md that starts with `first_line`, run: the
    tests use the page's own code."""
    with open(os.path.join(ROOT, 'docs', 'libraries.md')) as f:
        blocks = re.findall(r'```python\n(.*?)```', f.read(), re.S)
    code, = [block for block in blocks if block.startswith(first_line + '\n')]
    namespace = {}
    exec(compile(code, 'docs/libraries.md', 'exec'), namespace)
    return namespace


#: docs/libraries.md's recipe: precision, recall, F1 and ROC AUC of RetinaNet's
#: classification subnet over the anchors its focal loss counts.
AnchorMetrics = _recipe('# anchor_metrics.py')['AnchorMetrics']


def _write_csv_set(folder, count, seed):
    """PNGs of a rectangle (left half) and a disc (right half), sized like the smallest
    anchors, and keras-retinanet's CSV files for them. Returns the annotations path."""
    import cv2
    rng = np.random.RandomState(seed)
    os.makedirs(folder)
    rows = []
    for i in range(count):
        image = rng.randint(0, 60, (HEIGHT, WIDTH, 3)).astype(np.uint8)
        side = rng.randint(28, 40)
        x1, y1 = rng.randint(0, WIDTH // 2 - side), rng.randint(0, HEIGHT - side)
        image[y1:y1 + side, x1:x1 + side] = (40, 200, 60)
        rows.append((x1, y1, x1 + side, y1 + side, 'rectangle'))
        radius = rng.randint(14, 20)
        cx = rng.randint(WIDTH // 2 + radius, WIDTH - radius)
        cy = rng.randint(radius, HEIGHT - radius)
        ys, xs = np.mgrid[:HEIGHT, :WIDTH]
        image[(ys - cy) ** 2 + (xs - cx) ** 2 <= radius ** 2] = (200, 60, 40)
        rows.append((cx - radius, cy - radius, cx + radius + 1, cy + radius + 1, 'disc'))
        path = os.path.join(folder, 'drawn_%02d.png' % i)
        assert cv2.imwrite(path, image)
        rows[-2:] = [(path,) + row for row in rows[-2:]]
    annotations = os.path.join(folder, 'annotations.csv')
    with open(annotations, 'w') as f:
        csv.writer(f).writerows(rows)
    return annotations


def _classes_csv(folder):
    path = os.path.join(folder, 'classes.csv')
    with open(path, 'w') as f:
        csv.writer(f).writerows([(name, i) for i, name in enumerate(CLASSES)])
    return path


def _arguments(tmpdir, *extra):
    train = _write_csv_set(str(tmpdir.join('train')), 2, seed=0)
    val = _write_csv_set(str(tmpdir.join('val')), 3, seed=1)
    return (['--backbone', 'resnet50', '--no-weights', '--epochs', '2', '--steps', '2',
             '--image-min-side', str(HEIGHT), '--image-max-side', str(WIDTH),
             '--no-snapshots', '--tensorboard-dir', str(tmpdir.join('logs'))] + list(extra)
            + ['csv', train, _classes_csv(str(tmpdir)), '--val-annotations', val]), val


def test_train_main_unedited_captures_exactly_and_callback_keys_reach_history(tmpdir):
    from keras_retinanet.bin import train
    from keras_retinanet.models.resnet import ResNetBackbone
    from keras_retinanet.preprocessing.csv_generator import CSVGenerator

    arguments, val = _arguments(tmpdir, '--compute-val-loss')
    recorder = CaptureRecorder('input_1')
    with keras_getpredict.capturing(callbacks=[AnchorMetrics(), recorder]):
        history = train.main(arguments)

    # What train.py's validation generator feeds, image by image (no augmentation).
    fed = CSVGenerator(val, _classes_csv(str(tmpdir)), batch_size=1, shuffle_groups=False,
                       image_min_side=HEIGHT, image_max_side=WIDTH,
                       preprocess_image=ResNetBackbone('resnet50').preprocess_image)
    fed = [fed[i] for i in range(len(fed))]
    assert len(recorder.epochs) == 2
    for epoch in recorder.epochs:
        assert epoch['output_names'] == ['regression', 'classification']
        assert len(epoch['y_true']) == len(fed)  # every validation image, once
        assert_y_pred_is_predict(epoch)
        seen = []
        for inputs, y_true in zip(epoch['inputs'], epoch['y_true']):
            seen.append(matching_index(inputs, [x for x, _ in fed]))
            for captured, expected in zip(y_true, fed[seen[-1]][1]):
                np.testing.assert_array_equal(captured, expected)
        assert sorted(seen) == list(range(len(fed)))

    logs = history.history
    for key in ('val_anchor_roc_auc_macro', 'val_anchor_f1_macro', 'mAP', 'val_loss'):
        assert len(logs[key]) == 2, key
    # The recipe's numbers are those of the capture (the last epoch, checked above).
    last = recorder.epochs[-1]
    labels = np.concatenate([t[1].reshape(-1, 3) for t in last['y_true']])
    scores = np.concatenate([p[1].reshape(-1, 2) for p in last['y_pred']])
    counted = labels[:, -1] != -1
    assert labels[counted, :-1].sum(0).min() > 0  # positive anchors of each class
    from sklearn.metrics import roc_auc_score
    expected = np.mean([roc_auc_score(labels[counted, k], scores[counted, k]) for k in (0, 1)])
    assert np.isfinite(expected)
    np.testing.assert_allclose(logs['val_anchor_roc_auc_macro'][-1], expected, rtol=1e-12)


def test_train_main_without_compute_val_loss_says_where_to_act(tmpdir):
    from keras_retinanet.bin import train

    arguments, _ = _arguments(tmpdir)
    with keras_getpredict.capturing(callbacks=[AnchorMetrics()]):
        with pytest.raises(ValueError) as raised:
            train.main(arguments)
    message = str(raised.value)
    assert os.path.join('keras_retinanet', 'bin', 'train.py') in message, message
    assert 'AnchorMetrics' in message, message
