"""The sandbox policy: what reward code may import, name, call and return.

One module holds it; the static checks (``critic/static.py``) and the module loader
(``reward/compiled.py``) both read it. Module attributes are an allow-list of tensor
math (``torch.X``, ``np.X``, ``math.X``, ``typing.X``), and a module value may only be the
direct receiver of one of them (``torch.where(...)``, never ``lib = torch`` or ``f(torch)``),
so that no attribute of a module escapes the list; methods of tensors and arrays, whose
receivers the static checks cannot type, keep a deny-list. Format templates may only have
plain fields (``{0.attr}`` and ``{x[k]}`` walk objects out of the checks' sight).
"""

from __future__ import annotations

import math
import re

ALLOWED_MODULES = frozenset({"torch", "math", "typing", "numpy"})

_ELEMENTWISE = """
abs absolute exp exp2 expm1 log log2 log10 log1p sqrt rsqrt square pow float_power sin cos tan tanh sinh cosh
asin acos atan atan2 arcsin arccos arctan arctan2 arcsinh arccosh arctanh asinh acosh atanh sigmoid relu sign
signbit floor ceil round trunc frac fmod remainder fmin fmax maximum minimum clamp clip clamp_min clamp_max
where isnan isinf isfinite isclose allclose nan_to_num logical_and logical_or logical_not logical_xor
le lt ge gt eq ne greater less greater_equal less_equal equal not_equal add sub subtract mul multiply div
divide true_divide floor_divide neg negative reciprocal hypot erf erfc lerp heaviside deg2rad rad2deg degrees
radians copysign logaddexp logaddexp2 xlogy sinc square_ cumsum cumprod diff
""".split()
_REDUCTIONS = """
sum mean std var max min amax amin argmax argmin prod norm median quantile nanmean nansum any all
count_nonzero logsumexp softmax log_softmax sort argsort topk einsum matmul bmm mm dot vdot inner outer cross
tensordot linspace arange zeros ones full empty zeros_like ones_like full_like empty_like rand_like
stack cat concatenate hstack vstack flatten reshape squeeze unsqueeze expand_dims transpose gather take
take_along_axis index_select masked_fill narrow split chunk tile repeat_interleave broadcast_to roll flip
tensor as_tensor asarray array clone cdist trace diag diagonal tril triu average ptp interp polyval
""".split()
_DTYPES_CONSTS = """
Tensor float float16 float32 float64 double half int int8 int16 int32 int64 long uint8 bool bool_ dtype
pi e inf nan euler_gamma newaxis finfo iinfo ndarray
""".split()
_TORCH_EXTRA = {
    "jit.script", "jit.annotate", "jit.Final", "no_grad", "linalg.norm", "linalg.vector_norm",
    "linalg.matrix_norm", "linalg.det", "linalg.inv", "linalg.solve", "linalg.cross",
    "nn.functional.relu", "nn.functional.softplus", "nn.functional.sigmoid", "nn.functional.tanh",
    "nn.functional.normalize", "nn.functional.mse_loss", "nn.functional.l1_loss", "nn.functional.smooth_l1_loss",
    "nn.functional.huber_loss", "nn.functional.elu", "nn.functional.leaky_relu", "nn.functional.gelu",
    "nn.functional.silu", "nn.functional.softmax", "nn.functional.log_softmax", "nn.functional.cosine_similarity",
    "nn.functional.pairwise_distance", "nn.functional.one_hot", "nn.functional.pad",
    "special.expit", "special.logit", "special.erf", "special.xlogy", "distributions.Normal",
}
_NUMPY_EXTRA = {"linalg.norm"}
_TYPING = {"Dict", "Tuple", "List", "Optional", "Union", "Any", "Callable", "Sequence", "Mapping", "Final"}
_BASE = set(_ELEMENTWISE) | set(_REDUCTIONS) | set(_DTYPES_CONSTS)

# Dotted names below each module that reward code may use (submodule prefixes are implied).
ALLOWED_MODULE_ATTRS: dict[str, frozenset[str]] = {
    "torch": frozenset(_BASE | _TORCH_EXTRA),
    "numpy": frozenset(_BASE | _NUMPY_EXTRA),
    "math": frozenset(n for n in dir(math) if not n.startswith("_")),
    "typing": frozenset(_TYPING),
}

# Builtins a reward module does not get (files, code evaluation, introspection, process exit).
BLOCKED_BUILTINS = frozenset({
    "open", "eval", "exec", "compile", "globals", "locals", "vars", "getattr", "setattr", "delattr", "input",
    "breakpoint", "exit", "quit", "help", "memoryview", "__import__", "__build_class__", "__loader__",
    "__spec__", "object", "type", "super", "classmethod", "staticmethod", "property", "dir", "__builtins__",
    "copyright", "credits", "license",
})
# Names the static checks refuse anywhere in the code (the blocked builtins, plus the module dunders).
FORBIDDEN_NAMES = BLOCKED_BUILTINS | {"__builtins__", "__loader__", "__spec__", "__file__", "__name__"}

# Methods (on tensors, arrays and anything else) that reach files, pickling, raw memory,
# hooks, processes or the interpreter's frames.
BLOCKED_METHODS = frozenset({
    "save", "load", "tofile", "fromfile", "savetxt", "loadtxt", "genfromtxt", "savez", "savez_compressed",
    "memmap", "from_file", "open", "dump", "dumps", "tobytes", "tostring", "data_ptr", "storage",
    "untyped_storage", "share_memory_", "pin_memory", "from_buffer", "frombuffer", "fromregex", "fromtextfile",
    "register_hook", "register_forward_hook", "register_backward_hook", "retain_grad", "backward",
    "ctypes", "ctypeslib", "hub", "multiprocessing", "distributed", "package", "ops", "classes", "utils",
    "system", "popen", "spawn", "fork", "compile", "library", "testing", "lib", "backends", "cuda_sleep",
    "load_library", "cpp", "profiler", "onnx", "export", "serialization", "overrides", "sleep", "os", "sys",
    "builtins", "f2py", "DataSource", "set_", "resize_", "map_", "apply_", "new",
    # frame and code objects (reachable from generators) lead to the caller's real globals and builtins
    "gi_frame", "gi_code", "cr_frame", "cr_code", "ag_frame", "ag_code", "f_back", "f_globals",
    "f_builtins", "f_locals", "f_code", "tb_frame", "tb_next",
})

COMPONENT_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
MAX_COMPONENTS = 32
MAX_FEEDBACK_CHARS = 2000  # any text from a candidate that reaches a file, the terminal or a prompt


def module_attr_allowed(module: str, dotted: str) -> bool:
    """Whether ``module.dotted`` (e.g. ``torch``, ``nn.functional.relu``) is on the allow-list.

    A prefix of an allowed name (``nn``, ``nn.functional``) is allowed too: it is only a path.
    """
    names = ALLOWED_MODULE_ATTRS.get(module)
    if names is None:
        return False
    if dotted in names:
        return True
    return any(n.startswith(dotted + ".") for n in names)


def module_path_is_module(module: str, dotted: str) -> bool:
    """Whether ``module.dotted`` names a module (the module itself, or a submodule such as ``nn.functional``)
    rather than one of the allowed functions, classes or constants.

    A module value may only be the direct receiver of an attribute (``torch.nn.functional.relu(x)``): the
    static checks refuse ``F = torch.nn.functional``, ``f(torch)`` and the like, because an attribute of a
    module held in a name, argument or container is not checked against the allow-list.
    """
    names = ALLOWED_MODULE_ATTRS.get(module)
    if names is None:
        return False
    if not dotted:
        return True
    return dotted not in names and any(n.startswith(dotted + ".") for n in names)


# Format methods walk attributes and indexes named in their template (``"{0.gi_frame}"``, ``"{x[k]}"``), out
# of the static checks' sight: reward code may call them only on a constant template with plain fields.
FORMAT_METHODS = frozenset({"format", "format_map"})
PLAIN_FORMAT_FIELD = re.compile(r"|[0-9]+|[A-Za-z_][A-Za-z0-9_]*")
PERCENT_KEY = re.compile(r"%\(([^)]*)\)")


def format_field_problem(template: str) -> str | None:
    """Why ``template.format(...)`` could walk attributes or indexes (the offending field), or None.

    Fields must be plain: ``{}``, ``{0}``, ``{name}``, optionally with a conversion and a format
    spec, whose own nested fields follow the same rule.
    """
    import string

    try:
        parts = list(string.Formatter().parse(template))
    except ValueError as exc:
        return f"the template does not parse ({exc})"
    for _, field, spec, _ in parts:
        if field is None:
            continue
        if not PLAIN_FORMAT_FIELD.fullmatch(field):
            return f"the field '{{{field}}}' walks attributes or indexes"
        if spec and ("{" in spec or "}" in spec):
            problem = format_field_problem(spec)
            if problem:
                return problem
    return None


def percent_key_problem(template: str) -> str | None:
    """A ``%(key)s`` key of a ``%``-formatted constant that is not a plain identifier, or None.

    ``%`` looks keys up literally (no attribute walking); the rule only keeps templates plain and
    readable, like those of ``str.format``.
    """
    for key in PERCENT_KEY.findall(template.replace("%%", "")):
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key):
            return f"the key '%({key})' is not a plain name"
    return None


def valid_component_name(name: object) -> bool:
    """A component name is an identifier of at most 64 characters."""
    return isinstance(name, str) and COMPONENT_NAME.fullmatch(name) is not None


def bound_text(text: object, limit: int = MAX_FEEDBACK_CHARS) -> str:
    """``text`` as a string of at most ``limit`` characters (the cut is marked)."""
    s = str(text)
    if len(s) <= limit:
        return s
    return s[: limit - 40] + f" ... [cut: {len(s) - limit + 40} more characters]"
