import pytest

from eureka.critic.static import check_static
from eureka.errors import ForbiddenCode, RewardSignatureError

NAMES = ["cart_position", "cart_velocity", "pole_angle", "pole_angular_velocity", "actions"]


@pytest.mark.parametrize("code", [
    "import os\ndef compute_reward(pole_angle):\n    return pole_angle\n",
    "from subprocess import run\ndef compute_reward(pole_angle):\n    return pole_angle\n",
    "import torch.utils\ndef compute_reward(pole_angle):\n    return pole_angle\n",
    "def compute_reward(pole_angle):\n    open('/tmp/x', 'w')\n    return pole_angle\n",
    "def compute_reward(pole_angle):\n    return eval('pole_angle')\n",
    "def compute_reward(pole_angle):\n    return pole_angle.__class__\n",
    "def compute_reward(pole_angle):\n    return getattr(pole_angle, 'abs')()\n",
    "import torch\ndef compute_reward(pole_angle):\n    torch.save(pole_angle, 'x.pt')\n    return pole_angle\n",
    "def compute_reward(pole_angle):\n    return __builtins__\n",
    "def compute_reward(pole_angle):\n    x = '__class__'\n    return pole_angle\n",
])
def test_forbidden_code(code):
    with pytest.raises(ForbiddenCode):
        check_static(code, NAMES)


def test_unknown_state_name_lists_valid_names_and_closest():
    with pytest.raises(RewardSignatureError) as info:
        check_static("def compute_reward(pole_angel):\n    return pole_angel\n", NAMES)
    assert "pole_angle" in info.value.message and "Closest match: 'pole_angle'" in info.value.message


@pytest.mark.parametrize("code", [
    "def reward(pole_angle):\n    return pole_angle\n",
    "def compute_reward(*args):\n    return args[0]\n",
    "def compute_reward():\n    return 1\n",
    "def compute_reward(pole_angle):\n    x = pole_angle\n",
])
def test_signature_errors(code):
    with pytest.raises(RewardSignatureError):
        check_static(code, NAMES)


def test_valid_reward_passes_and_defaulted_extra_params_are_allowed():
    code = "import torch\nimport math\ndef compute_reward(pole_angle, temp: float = 0.1):\n" \
           "    r = torch.exp(-pole_angle ** 2 / temp) * math.pi\n    return r, {'r': r}\n"
    assert check_static(code, NAMES).name == "compute_reward"


def _reward(body: str, head: str = "import torch\nimport math\nimport numpy as np\nimport typing\n") -> str:
    """A reward module: ``head``, then ``body`` (module-level lines), then a trivial compute_reward."""
    return f"{head}{body}\ndef compute_reward(pole_angle):\n    return pole_angle\n"


# A module anywhere but directly before one of its allowed names: each of these used to pass the static checks
# (or would, with a name the allow-list does not cover), leaving the module's unchecked attributes
# (torch.importlib, torch.threading, typing.operator, torch.nn.functional.importlib, ...) one step away.
MODULE_VALUES = {
    "assigned": "backend = torch",
    "annotated assignment": "backend: typing.Any = torch",
    "alias assigned": "import torch as t\nlib = t",
    "call argument": "print(torch)",
    "keyword argument": "dict(lib=torch)",
    "starred argument": "print(*torch)",
    "default argument": "def f(x, lib=torch):\n    return x",
    "keyword-only default": "def f(x, *, lib=np):\n    return x",
    "list": "LIBS = [torch, math]",
    "tuple": "LIBS = (math,)",
    "set": "LIBS = {np}",
    "dict value": "LIBS = {'t': torch}",
    "dict key": "LIBS = {typing: 1}",
    "return": "def xp():\n    return torch",
    "yield": "def xp():\n    yield np",
    "lambda body": "pick = lambda: torch",
    "walrus": "print((lib := torch))",
    "comprehension iterable": "LIBS = [m for m in [torch]]",
    "comprehension element": "LIBS = [torch for _ in range(2)]",
    "generator": "LIBS = list(math for _ in range(2))",
    "conditional expression": "lib = torch if True else math",
    "boolean operator": "lib = torch or math",
    "subscript": "lib = torch[0]",
    "comparison": "same = torch is np",
    "submodule assigned": "F = torch.nn.functional",
    "submodule from import assigned": "from torch import nn\nlayer = nn",
    "submodule passed": "import torch.nn.functional as F\nprint(F)",
    "submodule prefix passed": "print(torch.nn)",
    "submodule in container": "LIBS = [np.linalg]",
    "submodule as decorator": "@torch.jit\ndef f(x):\n    return x",
    "module as decorator": "@torch\ndef f(x):\n    return x",
    "attribute of parenthesized choice": "(torch or math).importlib.import_module('os')",
    "reached through another module": "lib = torch.importlib",
    "re-exported by a submodule": "lib = torch.nn.functional.importlib",
    "re-exported by typing": "get = typing.operator.attrgetter('x')",
    "numpy os": "env = np.os.environ",
    "torch os": "env = torch.os.environ",
    "torch sys": "mods = torch.sys.modules",
    "numpy ctypeslib": "lib = np.ctypeslib",
    "torch threading": "torch.threading.Thread(target=print).start()",
}


@pytest.mark.parametrize("body", MODULE_VALUES.values(), ids=MODULE_VALUES.keys())
def test_module_values_are_refused_with_the_line(body):
    with pytest.raises(ForbiddenCode) as info:
        check_static(_reward(body), NAMES)
    assert "line" in info.value.message and info.value.line is not None
    assert info.value.line > 4  # the line of the use, not of the import


def test_module_value_message_says_how_and_what_to_do():
    with pytest.raises(ForbiddenCode) as info:
        check_static(_reward("def f(x, lib=torch):\n    return x"), NAMES)
    msg = info.value.message
    assert "'torch'" in msg and "default argument" in msg and "line 5" in msg and "torch.where" in msg
    with pytest.raises(ForbiddenCode) as info:
        check_static(_reward("F = torch.nn.functional"), NAMES)
    assert "'torch.nn.functional'" in info.value.message and "import torch.nn.functional as" in info.value.message


FORMAT_WALKS = {
    "attribute field": "'{0.real}'.format(1.0)",
    "auto-numbered attribute field": "'{.real}'.format(1.0)",
    "named attribute field": "'{x.real}'.format(x=1.0)",
    "index field": "'{x[0]}'.format(x=[1])",
    "attribute then index": "'{0.gi_frame.f_globals[os]}'.format(1)",
    "format_map field": "'{g.gi_frame}'.format_map({'g': 1})",
    "nested field in a format spec": "'{0:{1.real}}'.format(1.0, 2)",
    "template in a name": "t = '{0}'\nt.format(1)",
    "template built at run time": "('{0' + '.real}').format(1.0)",
    "str.format on a template": "str.format('{0.real}', 1.0)",
    "method taken from a constant": "f = '{0.real}'.format",
    "f-string receiver": "f'{1}{{0.real}}'.format(1.0)",
    "format_map in a name": "t = '{a}'\nt.format_map({'a': 1})",
    "malformed template": "'{0'.format(1)",
    "percent key path": "'%(a.b)s' % {'a.b': 1}",
    "f-string walking a blocked attribute": "def g():\n    yield 1\nx = f'{g().gi_frame}'",
}


@pytest.mark.parametrize("body", FORMAT_WALKS.values(), ids=FORMAT_WALKS.keys())
def test_format_templates_that_walk_are_refused(body):
    with pytest.raises(ForbiddenCode) as info:
        check_static(_reward(body), NAMES)
    assert info.value.line is not None and info.value.line > 4


VALID_MODULE_AND_FORMAT_USES = {
    "import alias": "import torch as t\nx = t.where(t.ones(2) > 0, t.ones(2), t.zeros(2))",
    "submodule alias": "import torch.nn.functional as F\nx = F.relu(torch.ones(2))",
    "submodule from import": "from torch import nn\nx = nn.functional.softplus(torch.ones(2))",
    "numpy submodule chain": "x = np.linalg.norm(np.ones(3))",
    "jit decorator": "@torch.jit.script\ndef f(x: torch.Tensor) -> torch.Tensor:\n    return x * 2.0",
    "no_grad context": "with torch.no_grad():\n    x = torch.ones(2)",
    "typing module": "def f(x: torch.Tensor) -> typing.Dict[str, torch.Tensor]:\n    return {'x': x}",
    "dtype default": "def f(x, dtype=torch.float32):\n    return x.to(dtype)",
    "function stored": "act = torch.tanh\nx = act(torch.ones(2))",
    "constants": "LIMIT = math.pi / 15.0 + np.pi + float(np.deg2rad(12.0))",
    "plain format fields": "x = '{}_{}'.format('a', 1) + '{0}{name}'.format(1, name='n')",
    "format specs": "x = '{0:.3f}'.format(1.0) + '{:>{w}}'.format('a', w=3) + '{!r:^10}'.format('a')",
    "format_map plain": "x = '{a}_{b}'.format_map({'a': 1, 'b': 2})",
    "f-strings": "v = 1.5\nx = f'{v:.3f}_{v!r}_{v:>{5}}'",
    "percent formatting": "x = '%s_%d' % ('a', 1) + '%(name)s' % {'name': 'n'} + '100%% (%(k)s)' % {'k': 1}",
    "modulo of tensors": "x = torch.ones(2) % (2 * math.pi)",
    "escaped braces": "x = '{{literal}}_{}'.format(1)",
}


@pytest.mark.parametrize("body", VALID_MODULE_AND_FORMAT_USES.values(), ids=VALID_MODULE_AND_FORMAT_USES.keys())
def test_module_and_format_uses_that_stay_allowed(body):
    assert check_static(_reward(body), NAMES).name == "compute_reward"


def test_allowed_names_are_never_modules_nor_expose_one():
    """The rule "a module only before an allowed name" holds only if no allowed name is itself a module, nor
    hands one out through a public attribute, and every prefix of an allowed name is a module."""
    import importlib
    import types

    from eureka.sandbox.policy import ALLOWED_MODULE_ATTRS, module_path_is_module

    checked = 0
    for module, names in ALLOWED_MODULE_ATTRS.items():
        root = importlib.import_module(module)
        for name in names:
            obj, parts = root, name.split(".")
            for i, part in enumerate(parts):
                if i:
                    assert isinstance(obj, types.ModuleType), f"{module}.{'.'.join(parts[:i])} is not a module"
                    assert module_path_is_module(module, ".".join(parts[:i]))
                obj = getattr(obj, part, None)
            if obj is None:
                continue  # a numpy name under torch or the reverse: the call fails at run time
            checked += 1
            assert not isinstance(obj, types.ModuleType), f"{module}.{name} is a module"
            assert not module_path_is_module(module, name)
            for attr in dir(obj):
                if not attr.startswith("_"):
                    value = getattr(obj, attr, None)
                    assert not isinstance(value, types.ModuleType), f"{module}.{name}.{attr} is a module"
    assert checked > 250


def test_offline_designer_code_passes_for_every_task():
    """Everything the offline designer writes (seeds, many mutations, products, crossovers) stays acceptable."""
    import numpy as np

    from eureka import tasks
    from eureka.llm.offline import CodeWriter, Mutator, seed_genome

    kinds = set()
    for name in tasks.list_tasks():
        task = tasks.make(name)
        writer, mutator = CodeWriter(task), Mutator(task, np.random.default_rng(0))
        genome = seed_genome(task)
        population = [genome]
        for i in range(40):
            genome = mutator.perturb(genome, 0.5)
            if i % 5 == 4:
                genome = mutator.crossover(genome, population[int(mutator.rng.integers(len(population)))])
            population.append(genome)
        for genome in population:
            kinds |= {t.kind for t in genome}
            check_static(writer.code(genome), task.state_names)
    assert {"tolerance", "product", "linear", "abs_error", "alive"} <= kinds, kinds
