"""Command line: `keras-getpredict demo` (the default) and `keras-getpredict report FILE.npz`.

Only `demo` imports TensorFlow and Keras; `--help` and `report` never do.
"""
from __future__ import absolute_import

import argparse
import os
import sys
import warnings


def _quiet_tensorflow():
    # Before the demo imports TensorFlow: keep TF 1.15's deprecation chatter out of
    # its output. Errors still show.
    os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
    os.environ.setdefault('KERAS_BACKEND', 'tensorflow')
    os.environ.setdefault('MPLBACKEND', 'Agg')
    warnings.filterwarnings('ignore', category=FutureWarning)
    warnings.filterwarnings('ignore', category=DeprecationWarning)
    from .core.families import tf_v1
    tf_v1().logging.set_verbosity(tf_v1().logging.ERROR)


def _parser():
    # demo.py imports TensorFlow and Keras only inside `run_demo`.
    from .demo import DEFAULT_EPOCHS
    parser = argparse.ArgumentParser(
        prog='keras-getpredict',
        description='Validation predictions in every epoch of Keras 2.x training. '
                    'Without a command, runs the demo.')
    commands = parser.add_subparsers(dest='command')
    demo = commands.add_parser(
        'demo', help='train a small CNN on the bundled digits and write a run folder')
    demo.add_argument('--out', default=None,
                      help='run folder (default: runs/demo-<date>-<time>)')
    demo.add_argument('--epochs', type=int, default=DEFAULT_EPOCHS,
                      help='epochs (default: %(default)s)')
    demo.add_argument('--steps', type=int, default=None,
                      help='training batches per epoch (default: one pass over the data)')
    demo.add_argument('--quiet', action='store_true',
                      help='no progress bar and no per-epoch table')
    report = commands.add_parser(
        'report', help='print the per-class table of a predictions .npz and write PNG plots')
    report.add_argument('file', help='a .npz written by PredictionSaver')
    report.add_argument('--out', default=None,
                        help='folder for the PNGs (default: next to the file)')
    report.add_argument('--output', action='append', default=None,
                        help='output name to report (repeatable; default: all with targets)')
    return parser


def _one_line(error, path):
    """The message of `error` on one line; a problem with the file names `path`."""
    message = ' '.join(str(error).split()) or type(error).__name__
    if isinstance(error, ImportError) or path in message:
        return message
    return '%s: %s' % (path, message)


def main(argv=None):
    """Entry point of the `keras-getpredict` console script and `python -m keras_getpredict`."""
    args = _parser().parse_args(sys.argv[1:] if argv is None else argv)
    if args.command == 'report':
        from .analysis.report import report
        try:
            report(args.file, out_dir=args.out, outputs=args.output)
        except (IOError, OSError, ValueError, ImportError) as e:
            sys.stderr.write('keras-getpredict report: %s\n' % _one_line(e, args.file))
            return 1
        return 0
    if args.command is None:
        args = _parser().parse_args(['demo'])
    _quiet_tensorflow()
    from .demo import run_demo, summary_text
    result = run_demo(args.out, epochs=args.epochs, steps_per_epoch=args.steps,
                      verbose=0 if args.quiet else 1)
    print(summary_text(result))
    return 0


if __name__ == '__main__':
    sys.exit(main())
