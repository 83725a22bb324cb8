"""No import circles among eureka's modules (scripts/import_circles.py), and ``config`` imports no stage."""

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("import_circles", ROOT / "scripts" / "import_circles.py")
assert spec is not None and spec.loader is not None
import_circles = importlib.util.module_from_spec(spec)
spec.loader.exec_module(import_circles)


def test_no_import_circle_at_module_level():
    assert import_circles.circles(import_circles.graph(ROOT)) == []


def test_no_import_circle_even_through_imports_inside_functions():
    assert import_circles.circles(import_circles.graph(ROOT, everywhere=True)) == []


def test_the_counter_sees_a_circle():
    assert import_circles.circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_config_imports_no_stage():
    # the configuration is the bottom layer: everything reads it, it reads only the errors
    assert import_circles.graph(ROOT, everywhere=True)["eureka.config"] <= {"eureka.errors"}
