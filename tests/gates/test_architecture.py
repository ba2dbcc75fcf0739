"""The layering rules of docs/architecture.md, read from the source with `ast`.

- `core/` imports only its siblings, the standard library and numpy, six, scipy, Keras and
  TensorFlow: the fork vendors it unchanged as `keras/getpredict/`.
- `analysis/` imports neither Keras, TensorFlow nor the callbacks: numbers, pictures and
  files for any process.
- `patching/` builds on `core/` only; `callbacks/` on `core/` and `analysis/`.
- The package's import graph has no circle.
- No two modules share a file name (`__init__.py` aside): one name, one module.
- Only `core/families/` reads or writes private attributes of Keras, TensorFlow or
  Horovod objects, and only `core/attached.py` keeps our own state in their `__dict__`.
- Only `core/families/` tests which Keras stack or release it runs on (`sys.modules`,
  versions, stack names compared, `GraphExecutionFunction`, tf.keras' modules): the
  rest is handed a family.
- One path from `get_predict` to a plan: the stages (collect, parse, merge, resolve the
  requests) are called only by `core/plan.py`, whose entries only the flow and the
  `capturing` block call.
- Every hook of the callbacks we add to a user's run runs inside the failure boundary
  (`core/failures.py`, `SafeHooks`).
"""
import ast
import glob
import os
import sys
import textwrap

import pytest
from support.paths import ROOT

PACKAGE = os.path.join(ROOT, 'keras_getpredict')
# What core/ may import besides its siblings and the standard library.
CORE_THIRD_PARTY = {'numpy', 'six', 'scipy', 'keras', 'tensorflow'}
FORBIDDEN_IN_ANALYSIS = {'keras', 'tensorflow', 'keras_getpredict.callbacks',
                         'keras_getpredict.patching'}
# Which subpackage may import which (the top-level modules may import anything).
MAY_IMPORT = {'core': {'core'}, 'analysis': {'core', 'analysis'},
              'patching': {'core', 'patching'}, 'callbacks': {'core', 'analysis', 'callbacks'}}


def _modules():
    """`{dotted module name: path}` of every module of the package."""
    modules = {}
    for path in glob.glob(os.path.join(PACKAGE, '**', '*.py'), recursive=True):
        relative = os.path.relpath(path, ROOT)[:-len('.py')].split(os.sep)
        if relative[-1] == '__init__':
            relative = relative[:-1]
        modules['.'.join(relative)] = path
    return modules


MODULES = _modules()


def _imports(module):
    """Every module `module` imports, at any depth of its code, as dotted names."""
    path = MODULES[module]
    with open(path) as f:
        tree = ast.parse(f.read(), path)
    package = module if path.endswith('__init__.py') else module.rpartition('.')[0]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split('.')
                base = base[:len(base) - node.level + 1]
                stem = '.'.join(base + ([node.module] if node.module else []))
            else:
                stem = node.module
            # `from . import x` imports the submodule x when there is one.
            for alias in node.names:
                candidate = '%s.%s' % (stem, alias.name)
                found.append(candidate if candidate in MODULES else stem)
    return found


def _subpackage(module):
    parts = module.split('.')
    return parts[1] if len(parts) > 2 else None


def _top(name):
    return name.split('.')[0]


def _is_stdlib(name):
    top = _top(name)
    if top in sys.builtin_module_names or top == '__future__':
        return True
    spec = __import__('importlib').util.find_spec(top)
    if spec is None or spec.origin in (None, 'built-in', 'frozen'):
        return spec is not None
    return 'site-packages' not in spec.origin and 'dist-packages' not in spec.origin


def test_every_import_of_ours_names_a_module_of_the_package():
    # The rules below read `_imports`; a relative import it resolved wrongly (`..` in
    # core/families/ or core/horovod/) would name no module and escape them.
    assert {'keras_getpredict.core.families.base', 'keras_getpredict.core.horovod.gather',
            'keras_getpredict.core.horovod.sums'} <= set(MODULES)
    wrong = ['%s imports %s' % (module, name) for module in MODULES
             for name in _imports(module)
             if name.startswith('keras_getpredict') and name not in MODULES]
    assert not wrong, '\n'.join(wrong)
    assert {'keras_getpredict.core.graph_sums', 'keras_getpredict.core.horovod.collectives'} \
        <= set(_imports('keras_getpredict.core.horovod.sums'))


def test_core_imports_only_its_siblings_and_its_libraries():
    wrong = []
    for module in MODULES:
        if _subpackage(module) != 'core':
            continue
        for name in _imports(module):
            if name.startswith('keras_getpredict.'):
                ok = name.startswith('keras_getpredict.core')
            else:
                ok = _top(name) in CORE_THIRD_PARTY or _is_stdlib(name)
            if not ok:
                wrong.append('%s imports %s' % (module, name))
    assert not wrong, '\n'.join(wrong)


def test_analysis_imports_neither_keras_nor_the_callbacks():
    wrong = ['%s imports %s' % (module, name) for module in MODULES
             if _subpackage(module) == 'analysis' for name in _imports(module)
             if any(name == f or name.startswith(f + '.') for f in FORBIDDEN_IN_ANALYSIS)]
    assert not wrong, '\n'.join(wrong)


def test_subpackages_import_only_the_layers_below_them():
    wrong = []
    for module in MODULES:
        layer = _subpackage(module)
        if layer not in MAY_IMPORT:
            continue
        for name in _imports(module):
            if name.startswith('keras_getpredict.') and _subpackage(name) is not None and \
                    _subpackage(name) not in MAY_IMPORT[layer]:
                wrong.append('%s (%s) imports %s' % (module, layer, name))
    assert not wrong, '\n'.join(wrong)


def test_the_import_graph_has_no_circle():
    graph = {module: {name for name in _imports(module) if name in MODULES and name != module}
             for module in MODULES}
    # A package's __init__ is imported with each of its modules; leave those arrows out.
    for module in graph:
        graph[module] = {name for name in graph[module] if not module.startswith(name + '.')}
    visiting, done, circles = [], set(), []

    def visit(module):
        if module in done:
            return
        if module in visiting:
            circles.append(' -> '.join(visiting[visiting.index(module):] + [module]))
            return
        visiting.append(module)
        for name in sorted(graph[module]):
            visit(name)
        visiting.pop()
        done.add(module)

    for module in sorted(graph):
        visit(module)
    assert not circles, '\n'.join(circles)


def test_no_two_modules_share_a_file_name():
    # The top-level modules users import (`keras_getpredict/classification.py`, say) are
    # aliases of modules under other names, never of a namesake.
    # A package's name counts as a module name too (core/horovod/ and a horovod.py).
    names = {}
    for module in MODULES:
        if module != 'keras_getpredict':
            names.setdefault(module.rpartition('.')[2], []).append(module)
    twice = ['%s: %s' % (name, ', '.join(sorted(modules)))
             for name, modules in sorted(names.items()) if len(modules) > 1]
    assert not twice, '\n'.join(twice)


# --- private attributes ------------------------------------------------------------------

def _private(name):
    # `_keras_getpredict_*` names are ours wherever they are set (core/attached.py's prefix).
    return name.startswith('_') and not (name.startswith('__') and name.endswith('__')) and \
        not name.startswith('_keras_getpredict')


def _our_private_names():
    """Private names the package defines itself (methods, attributes it assigns, class
    attributes): reading those is no reach into Keras."""
    names = set()
    for path in MODULES.values():
        with open(path) as f:
            tree = ast.parse(f.read(), path)
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and _private(node.name):
                names.add(node.name)
            elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store) and \
                    isinstance(node.value, ast.Name) and node.value.id in ('self', 'cls'):
                names.add(node.attr)
            elif isinstance(node, ast.Assign):
                names.update(t.id for t in node.targets if isinstance(t, ast.Name))
    return {name for name in names if _private(name)}


def _reaches(path, ours):
    """`(line, what)` for each private attribute of someone else read or written, and
    each `__dict__` / `vars()` use, in one file."""
    with open(path) as f:
        tree = ast.parse(f.read(), path)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute):
            if node.attr == '__dict__':
                found.append((node.lineno, '.__dict__'))
            elif _private(node.attr) and node.attr not in ours and not (
                    isinstance(node.value, ast.Name) and node.value.id in ('self', 'cls')):
                found.append((node.lineno, '.' + node.attr))
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            if node.func.id in ('getattr', 'setattr', 'hasattr', 'delattr') and \
                    len(node.args) > 1 and isinstance(node.args[1], ast.Str) and \
                    _private(node.args[1].s) and node.args[1].s not in ours:
                found.append((node.lineno, '%s(..., %r)' % (node.func.id, node.args[1].s)))
    return found


#: The package of the Keras families: the one place of Keras internals and stack tests.
FAMILIES = 'keras_getpredict.core.families'
#: Where reaching in is the module's job.
ALLOWED = {FAMILIES: 'the Keras families, the one package of Keras internals',
           'keras_getpredict.core.attached': 'our own state on Keras objects'}
ALLOWED.update((module, ALLOWED[FAMILIES]) for module in MODULES
               if module.startswith(FAMILIES + '.'))
#: `__dict__` of our own objects or classes, never of a Keras object.
OWN_DICT_USES = {'keras_getpredict.patching.install': 'vars(owner) of the patched classes'}


def test_only_the_families_reach_into_keras_tensorflow_and_horovod():
    ours = _our_private_names()
    wrong = []
    for module, path in sorted(MODULES.items()):
        if module in ALLOWED:
            continue
        for line, what in _reaches(path, ours):
            wrong.append('%s:%d %s' % (os.path.relpath(path, ROOT), line, what))
    assert not wrong, '\n'.join(wrong)


@pytest.mark.parametrize('module', sorted(ALLOWED))
def test_the_allowed_modules_exist(module):
    assert module in MODULES, ALLOWED[module]


# --- the failure boundary ----------------------------------------------------------------

#: Hooks of ours that are no code of a callback: tf.keras' hook names forwarding to the
#: Keras 2.2.4 ones (`families/callback_base.py, `_TfKerasHooks``), which run inside the boundary.
FORWARDING_HOOKS = 'keras_getpredict.core.families.callback_base'


def _callback_classes():
    """Every callback class the package adds to a user's run: the classes with hooks
    (`on_*` methods) defined in its modules (the capture's `Publisher` and `Armer` as
    `fit` trains with them, through `callback_face`)."""
    import importlib
    import inspect
    from keras_getpredict.core import failures, families
    found = []
    for module in sorted(MODULES):
        if _subpackage(module) in ('analysis', 'patching') or module.endswith('__main__') or \
                module == FORWARDING_HOOKS:
            continue
        loaded = importlib.import_module(module)
        for _, cls in inspect.getmembers(loaded, inspect.isclass):
            if cls.__module__ == module and any(failures.is_hook(n) for n in dir(cls)):
                found.append(cls)
    faces = [families.callback_face(c) for c in found if callback_base_free(c)]
    return found + faces


def callback_base_free(cls):
    from keras_getpredict.core import families
    return not issubclass(cls, families.callback_base())


def test_every_hook_of_the_callbacks_we_add_runs_inside_the_boundary():
    from keras_getpredict.core import failures
    classes = _callback_classes()
    names = {cls.__name__ for cls in classes}
    # The walk finds them all (a class it missed would go unchecked).
    assert {'Publisher', 'Armer', 'BatchPredictions', 'EpochMetrics', 'PredictionSaver',
            'TensorBoardPredictions', 'ReduceMetrics', 'TensorBoardCounts',
            'MaskRCNNHeadMetrics', 'MaskRCNNDetectionMetrics'} <= names, names
    outside = []
    for cls in classes:
        if not isinstance(cls, failures.SafeHooks):
            outside.append('%s has no SafeHooks metaclass' % cls.__name__)
        for name in dir(cls):
            if not failures.is_hook(name):
                continue
            owner = next(c for c in cls.__mro__ if name in vars(c))
            if not owner.__module__.startswith('keras_getpredict') or \
                    owner.__module__ == FORWARDING_HOOKS:
                continue  # Keras' own (empty) hook, or a forwarding one
            if not getattr(vars(owner)[name], 'in_boundary', False):
                outside.append('%s.%s (from %s)' % (cls.__name__, name, owner.__name__))
    assert not outside, '\n'.join(outside)


#: The stacks' names, which a stack test compares.
STACK_NAMES = {'STANDALONE', 'TF_KERAS', 'STACKS', 'FORKED_STACKS'}
STACK_STRINGS = {'keras', 'tf.keras', 'tensorflow.keras'}
#: Names that only a test of the stack or release would read.
SNIFFING_NAMES = {'GraphExecutionFunction', '__version__', 'modules', 'find_spec',
                  '_is_tf_keras'}
#: Outside the families, what reads one of `STACK_NAMES` for another purpose.
NOT_A_STACK_TEST = {'keras_getpredict': 'sys.modules[__name__]: the lazy public module'}


def _stack_tests(path):
    """`(line, what)` of every test of the Keras stack or release in the code at `path`:
    a comparison with a stack name, a read of a name in `SNIFFING_NAMES`, an import of
    tf.keras' modules."""
    with open(path) as f:
        tree = ast.parse(f.read(), path)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare):
            for operand in [node.left] + node.comparators:
                name = getattr(operand, 'id', None) or getattr(operand, 'attr', None)
                text = operand.s if isinstance(operand, ast.Str) else None
                if name in STACK_NAMES or text in STACK_STRINGS:
                    found.append((node.lineno, 'compares %s' % (name or repr(text))))
        elif isinstance(node, ast.Attribute) and node.attr in SNIFFING_NAMES and \
                isinstance(node.ctx, ast.Load):
            found.append((node.lineno, '.' + node.attr))
        elif isinstance(node, ast.Name) and node.id in SNIFFING_NAMES and \
                isinstance(node.ctx, ast.Load):
            found.append((node.lineno, node.id))
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names = [alias.name for alias in node.names] if isinstance(node, ast.Import) \
                else [node.module or '']
            found.extend((node.lineno, 'imports ' + name) for name in names
                         if name.startswith('tensorflow.python.keras'))
    return found


def test_only_the_families_test_the_keras_stack():
    wrong = []
    for module, path in sorted(MODULES.items()):
        if module in ALLOWED or module in NOT_A_STACK_TEST:
            continue
        for line, what in _stack_tests(path):
            wrong.append('%s:%d %s' % (os.path.relpath(path, ROOT), line, what))
    assert not wrong, '\n'.join(wrong)


def test_the_stack_test_rule_finds_each_kind(tmpdir):
    path = tmpdir.join('m.py')
    path.write(textwrap.dedent("""
        import sys
        from tensorflow.python.keras import backend
        def f(model, stack, families, keras):
            if stack == families.TF_KERAS or stack == 'keras':
                return sys.modules.get('keras')
            return isinstance(model, backend.GraphExecutionFunction), keras.__version__
        """))
    found = ' '.join(what for _, what in _stack_tests(str(path)))
    for what in ('imports tensorflow.python.keras', 'compares TF_KERAS', "compares 'keras'",
                 '.modules', '.GraphExecutionFunction', '.__version__'):
        assert what in found


# --- one path from `get_predict` to a plan ----------------------------------------------

# Each stage of turning requests into a plan, and the modules that may call it.
PLAN_STAGES = {
    'collect': {'core.requests', 'core.plan'},
    'parse_request': {'core.requests', 'core.plan'},
    'parse_get_predict': {'core.selection', 'core.requests'},
    'merge': {'core.requests', 'core.plan'},
    'merge_selections': {'core.selection', 'core.requests'},
    'check_requests': {'core.requests', 'core.plan'},
    'plan_call': {'core.plan', 'core.publishing'},
    'check_block': {'core.plan', 'patching.capturing'},
}


def _names_used(module):
    """Every name `module` imports or reads as an attribute (`requests.merge`)."""
    with open(MODULES[module]) as f:
        tree = ast.parse(f.read(), MODULES[module])
    used = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            used.update(alias.name for alias in node.names)
        elif isinstance(node, ast.Attribute):
            used.add(node.attr)
    return used


def test_only_the_plan_turns_requests_into_a_plan():
    wrong = []
    for module in MODULES:
        short = module.partition('.')[2]
        used = _names_used(module)
        wrong += ['%s uses %s' % (module, stage) for stage, allowed in PLAN_STAGES.items()
                  if stage in used and short not in allowed]
    assert not wrong, '\n'.join(wrong)
