"""The per-app train.py scripts: their recipe is the CLI's default recipe, and --help works without TF."""

import dataclasses
import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

from edgesuite.apps import APPS, get_config_class

REPO = Path(__file__).resolve().parents[2]


def load_script(app: str):
    """apps/<package>/train.py as a module (it is a script, not part of the installed package's API)."""
    spec = importlib.util.spec_from_file_location(f"train_{APPS[app]}", REPO / "apps" / APPS[app] / "train.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def script_ran(task_out: Path, capsys, printed: str) -> None:
    """The one run a script made under ``task_out`` completed and exported, and it printed ``printed``."""
    runs = [p for p in task_out.iterdir() if p.name != "latest"]
    assert len(runs) == 1 and '"completed"' in (runs[0] / "status.json").read_text()
    assert (runs[0] / "export" / "model.keras").exists() and printed in capsys.readouterr().out


@pytest.mark.parametrize("app", list(APPS))
def test_the_scripts_recipe_names_config_knobs_and_shows_their_defaults(app, capsys):
    """The script names knobs; their numbers come from the Config once, and a flag given wins and is marked."""
    from edgesuite import api

    fields = {f.name: f.default for f in dataclasses.fields(get_config_class(app))}
    recipe = load_script(app).RECIPE
    assert isinstance(recipe, tuple) and set(recipe) <= set(fields)
    assert len(recipe) >= 8  # the recipe's knobs are in view, not hidden behind the CLI
    knobs, formats = api.script_arguments(app, "doc", recipe, ["--epochs", "7", "--formats", "tflite"])
    assert knobs == {"epochs": 7} and formats == "tflite"
    said = capsys.readouterr().out
    shown = [k for k in recipe if k != "epochs"][0]
    assert said.startswith("recipe: ") and f"{shown.replace('_', '-')} {fields[shown]}" in said
    assert "epochs 7 (flag)" in said


@pytest.mark.parametrize("app", ["segmentation", "translation"])
def test_help_lists_the_recipe_knobs_and_imports_no_tensorflow(app):
    code = (
        f"import sys, runpy; sys.argv = ['train.py', '--help']\n"
        f"try:\n    runpy.run_path({str(REPO / 'apps' / APPS[app] / 'train.py')!r}, run_name='__main__')\n"
        "except SystemExit:\n    pass\n"
        "assert 'tensorflow' not in sys.modules\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "--formats" in out.stdout and "--epochs" in out.stdout and "top to bottom" in out.stdout
