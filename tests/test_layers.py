"""Imports point one way (docs/architecture.md, The layer rule): apps/<app> -> common; export -> common; the root
package
(edgesuite: cli, api, load, benchmark) -> anything; never app -> app, common -> anything above it, or
export -> apps / the root. Every import counts, top-level and inside functions alike; an app's
``train.py`` is an entry point and may use the public API, but not the CLI."""

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("apps", "common", "export", "edgesuite")


def _layer(rel: Path) -> str:
    parts = rel.parts
    return f"apps/{parts[1]}" if parts[0] == "apps" and len(parts) > 2 else parts[0]


def _target(module: str) -> str | None:
    p = module.split(".")
    if p[0] != "edgesuite":
        return None
    if len(p) == 1 or p[1] not in ("apps", "common", "export"):
        return "edgesuite"
    if p[1] == "apps":
        return f"apps/{p[2]}" if len(p) > 2 else "apps"
    return p[1]


def _allowed(src: str, dst: str) -> bool:
    if src == dst or src == "edgesuite":
        return True
    if src.startswith("apps"):
        return dst == "common" or (src == "apps" and dst.startswith("apps/"))
    if src == "export":
        return dst == "common"
    return False  # common imports nothing above it


def _imports(path: Path):
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            yield from ((a.name, node.lineno) for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.module, node.lineno


def arrows_against_the_direction(root: Path = REPO) -> list[str]:
    bad = []
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            rel = path.relative_to(root)
            entry = rel.parts[0] == "apps" and rel.name == "train.py"
            for module, line in _imports(path):
                dst = _target(module)
                if entry:
                    if module.startswith("edgesuite.cli"):
                        bad.append(f"{rel}:{line}: {module} (an app's train.py uses the public API, not the CLI)")
                elif dst and not _allowed(_layer(rel), dst):
                    bad.append(f"{rel}:{line}: {_layer(rel)} -> {dst} ({module})")
    return bad


def test_every_import_points_the_one_way():
    assert arrows_against_the_direction() == []


@pytest.mark.parametrize(
    "rel, code, arrow",
    [
        ("common/x.py", "def f():\n    from edgesuite.apps import get_task\n", "common -> apps"),
        ("export/x.py", "import edgesuite.api\n", "export -> edgesuite"),
        (
            "apps/segmentation/x.py",
            "from edgesuite.apps.translation import data\n",
            "apps/segmentation -> apps/translation",
        ),
        ("apps/segmentation/train.py", "from edgesuite.cli import main\n", "not the CLI"),
    ],
)
def test_the_check_finds_an_arrow_against_the_direction_even_inside_a_function(tmp_path, rel, code, arrow):
    for package in PACKAGES:
        (tmp_path / package).mkdir()
    (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
    (tmp_path / rel).write_text(code)
    found = arrows_against_the_direction(tmp_path)
    assert len(found) == 1 and arrow in found[0] and found[0].startswith(f"{rel}:")


def test_no_module_of_an_app_hides_a_standard_module():
    """``python apps/<app>/train.py`` puts the app's folder first on sys.path: a module there named like one of
    Python's own (inspect.py, types.py) would be imported in its place by everything, dataclasses included."""
    import sys

    hiding = [
        str(p.relative_to(REPO)) for p in sorted((REPO / "apps").glob("*/*.py")) if p.stem in sys.stdlib_module_names
    ]
    assert not hiding, hiding
