"""Compare the outcomes of Keras' own tests across the gate's runs, test id by test id."""
from __future__ import absolute_import, print_function

import io
import json
import re

from .keras_getpredict_testplugin import PROPERTY


def load_known(path):
    """Reads the known stock failures: `<test id, `*` matching anything>  # <reason>` a line.

    # Returns
        A list of `(pattern, reason)`.

    # Raises
        ValueError: In case a line has no `# reason`.
    """
    known = []
    with io.open(path, encoding='utf-8') as f:
        for number, line in enumerate(f, 1):
            line = line.strip()
            if not line or line.startswith('#'):
                continue
            pattern, sep, reason = line.partition('#')
            if not sep or not reason.strip() or not pattern.strip():
                raise ValueError('%s:%d: expected `<test id>  # <reason>`, got %r'
                                 % (path, number, line))
            known.append((pattern.strip(), reason.strip()))
    return known


def matches(test_id, pattern):
    """`*` is the only wildcard, so that `test_x[*]` means every parameter of `test_x`."""
    regex = '.*'.join(re.escape(part) for part in pattern.split('*'))
    return re.match(regex + r'\Z', test_id) is not None


def known_reason(test_id, known):
    for pattern, reason in known:
        if matches(test_id, pattern):
            return reason
    return None


def load_run(paths):
    """Merges the `--outcomes-json` files of one mode (main files + multiprocessing files)."""
    tests, metas = {}, []
    for path in paths:
        with io.open(path, encoding='utf-8') as f:
            data = json.load(f)
        metas.append(data['meta'])
        tests.update(data['tests'])
    return {'meta': metas, 'tests': tests}


def compare(runs, known, baseline='stock'):
    """Finds everything that makes the gate fail.

    # Arguments
        runs: dict mode -> `load_run()` result; must hold `baseline`.
        known: `load_known()` result; those tests are left out of the outcome comparison.
        baseline: the mode the others are compared with.

    # Returns
        A dict: `'differences'` (list of `(test id, {mode: outcome})`), `'unlisted_stock_failures'`
        (test ids failing on stock but not in the known list), `'inactive'` (list of
        `(mode, test id)` where the plugin was not in effect), `'capture_problems'` (list of
        `(test id, problem)` from the forced run), `'known'` (list of `(test id, reason,
        {mode: outcome})`), `'forced_calls'` and `'entries'` (totals of the forced run).
    """
    stock = runs[baseline]['tests']
    modes = [baseline] + sorted(m for m in runs if m != baseline)
    ids = sorted(set().union(*(set(runs[m]['tests']) for m in modes)))
    result = {'differences': [], 'unlisted_stock_failures': [], 'inactive': [],
              'capture_problems': [], 'known': [], 'forced_calls': 0, 'entries': 0,
              'targets_checked': 0, 'predictions_checked': 0}
    for test_id in ids:
        outcomes = {m: runs[m]['tests'].get(test_id, {}).get('outcome', 'missing')
                    for m in modes}
        reason = known_reason(test_id, known)
        if reason is not None:
            result['known'].append((test_id, reason, outcomes))
        elif len(set(outcomes.values())) > 1:
            result['differences'].append((test_id, outcomes))
        elif stock.get(test_id, {}).get('outcome') in ('failed', 'error'):
            result['unlisted_stock_failures'].append(test_id)
        for mode in modes:
            record = runs[mode]['tests'].get(test_id, {})
            state = record.get(PROPERTY)
            if state is None:
                if record.get('outcome') in ('passed', 'failed'):
                    # A test that ran its body but left no trace of the plugin.
                    result['inactive'].append((mode, test_id))
                continue
            expected = mode != 'stock'
            if (state.get('mode') != mode or bool(state.get('installed')) != expected or
                    (mode == 'force' and not state.get('forcing'))):
                result['inactive'].append((mode, test_id))
            if mode == 'force':
                result['forced_calls'] += state.get('forced_calls', 0)
                result['entries'] += state.get('entries', 0)
                result['targets_checked'] += state.get('targets_checked', 0)
                result['predictions_checked'] += state.get('predictions_checked', 0)
                for problem in state.get('problems', []):
                    result['capture_problems'].append((test_id, problem))
    return result


def failures(result, runs):
    """The lines that explain why the gate fails; empty when it passes."""
    lines = []
    for test_id, outcomes in result['differences']:
        lines.append('outcome differs: %s  %s' % (test_id, fmt(outcomes)))
    for test_id in result['unlisted_stock_failures']:
        message = runs['stock']['tests'][test_id].get('message', '')
        lines.append('fails on stock Keras, not in the known list: %s  (%s)' % (test_id, message))
    for mode, test_id in result['inactive']:
        lines.append('plugin not in effect in mode %s: %s' % (mode, test_id))
    for test_id, problem in result['capture_problems']:
        lines.append('capture problem: %s  %s' % (test_id, problem))
    if 'force' in runs and result['forced_calls'] == 0:
        lines.append('the forced run forced no call: the plugin did not reach the tests')
    return lines


def fmt(outcomes):
    """`mode=outcome mode=outcome ...`"""
    return ' '.join('%s=%s' % (mode, outcome) for mode, outcome in outcomes.items())


def report(result, runs):
    """Human-readable summary (a list of lines)."""
    lines = []
    for mode in [m for m in ('stock', 'install', 'force') if m in runs]:
        counts = {}
        for record in runs[mode]['tests'].values():
            counts[record['outcome']] = counts.get(record['outcome'], 0) + 1
        seconds = sum(meta.get('seconds', 0) for meta in runs[mode]['meta'])
        lines.append('%-8s %s  (%.0f s)' % (mode, ', '.join(
            '%d %s' % (n, k) for k, n in sorted(counts.items())), seconds))
    if 'force' in runs:
        lines.append('forced get_predict calls: %d; captured batch entries checked: %d; '
                     'captured y_true/inputs compared with the data passed in: %d; '
                     'captured y_pred compared with predict(): %d'
                     % (result['forced_calls'], result['entries'], result['targets_checked'],
                        result['predictions_checked']))
    for test_id, reason, outcomes in result['known']:
        lines.append('known: %s  %s  (%s)' % (test_id, fmt(outcomes), reason))
    return lines
