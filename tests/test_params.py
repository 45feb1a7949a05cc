"""Parameter rules: the annotated parameters cells, value conversion, and rejection before any kernel starts."""

import textwrap

import pytest

from avfh_core import config
from avfh_core.cli import main
from avfh_core.config import KNOB_RULES, ParamRule
from avfh_core.reproduce import batch, runner
from avfh_core.reproduce.runner import (
    NotebookParameterError,
    discover_notebooks,
    notebook_id,
    parameter_specs,
)


def test_rule_parsing_reads_types_bounds_and_choices():
    r = ParamRule.parse("int | None", ">= 1; None: the preset's value")
    assert r.types == ("int", "None") and r.op == ">=" and r.bound == 1
    assert ParamRule.parse("float | None", "> 0").op == ">"
    assert ParamRule.parse("str", "smoke | course | gpu | paper").choices == ("smoke", "course", "gpu", "paper")
    prose = ParamRule.parse("str | None", "a folder holding the real dataset; None: the synthetic world")
    assert prose.op is None and prose.choices == ()
    assert ParamRule.parse("bool | None", "None: the preset's value").types == ("bool", "None")
    with pytest.raises(ValueError, match="not supported"):
        ParamRule.parse("list[int]", "")
    with pytest.raises(ValueError, match="cannot read the constraint"):
        ParamRule.parse("int", ">= one")
    with pytest.raises(ValueError, match="needs an int or float"):
        ParamRule.parse("str", ">= 1")


@pytest.mark.parametrize(("text", "expected"), [("200", 200), ("+3", 3), ("none", None), ("null", None)])
def test_int_accepts_integer_text(text, expected):
    assert ParamRule.parse("int | None", ">= 1").convert("steps", text) == expected


@pytest.mark.parametrize("text", ["2.5", "abc", "-1", "0", "true", ""])
def test_int_rejects_other_text_naming_the_parameter(text):
    with pytest.raises(ValueError, match=rf"nb: parameter steps='{text}'.*expected an int >= 1"):
        ParamRule.parse("int | None", ">= 1").convert("steps", text, "nb")


def test_typed_values_floats_bools_and_choices():
    steps = ParamRule.parse("int", ">= 1")
    with pytest.raises(ValueError, match="steps=2.0"):
        steps.convert("steps", 2.0)  # a YAML float is not an int
    with pytest.raises(ValueError, match="steps=True"):
        steps.check("steps", True)  # a bool is not an int
    lr = ParamRule.parse("float | None", "> 0")
    assert lr.convert("lr", "1e-3") == 1e-3 and lr.convert("lr", 2) == 2.0
    for bad in ("0", "nan", "inf", "fast"):
        with pytest.raises(ValueError, match="expected a number > 0"):
            lr.convert("lr", bad)
    flag = ParamRule.parse("bool | None", "")
    assert flag.convert("w", "true") is True and flag.convert("w", "False") is False and flag.convert("w", "none") is None
    with pytest.raises(ValueError, match="true or false"):
        flag.convert("w", "yes please")
    device = ParamRule.parse("str", "auto | cpu | cuda | cuda:N | mps")
    assert device.convert("device", "cuda:12") == "cuda:12"
    for bad in ("tpu", "cuda:", "cuda:x", "CPU"):
        with pytest.raises(ValueError, match=r"expected one of auto \| cpu \| cuda \| cuda:N \| mps"):
            device.convert("device", bad)
    text = ParamRule.parse("str | None", "a path")
    assert text.convert("data_root", "123") == "123"  # a str parameter keeps the text
    assert ParamRule.parse("str", "").convert("name", "none") == "none"  # none only where None is declared


def test_every_repository_notebook_declares_readable_rules_that_agree_with_setup():
    """The parameters cells (checked before a kernel starts) and `setup` (checked inside it) use the same rules."""
    seen = 0
    for path in discover_notebooks():
        nid = notebook_id(path)
        specs = parameter_specs(runner.read_source(path), nid)
        assert {"preset", "seed", "device", "data_root"} <= set(specs), nid
        for name, spec in specs.items():
            assert spec.rule is not None, f"{nid}: parameter {name} has no type annotation"
            if name in KNOB_RULES:
                mine, theirs = spec.rule, KNOB_RULES[name]
                assert [t for t in mine.types if t != "None"] == [t for t in theirs.types if t != "None"], (nid, name)
                assert (mine.op, mine.bound, mine.choices) == (theirs.op, theirs.bound, theirs.choices), (nid, name)
                seen += 1
    assert seen > 20


def test_knob_rules_cover_every_preset_knob_with_its_type():
    for preset in config.PRESETS.values():
        for knob, value in preset.items():
            KNOB_RULES[knob].check(knob, value, "preset")  # every preset value satisfies its own rule
    numeric = [k for k, v in config.PRESETS["smoke"].items() if not isinstance(v, bool)]
    assert sorted(k for k in numeric if KNOB_RULES[k].op is None) == []


@pytest.mark.parametrize(("kwargs", "named"), [
    ({"steps": -1}, "steps=-1"), ({"batch_size": 0}, "batch_size=0"), ({"steps": 2.5}, "steps=2.5"),
    ({"steps": "abc"}, "steps='abc'"), ({"lr": 0.0}, "lr=0.0"), ({"seed": -1}, "seed=-1"),
    ({"seed": "abc"}, "seed='abc'"), ({"device": "tpu"}, "device='tpu'"), ({"mouth_size": 4}, "mouth_size=4"),
])
def test_setup_names_the_bad_parameter(kwargs, named):
    with pytest.raises(ValueError, match=rf"setup: parameter {named.replace('.', '[.]')} is not valid: expected"):
        config.setup("smoke", **kwargs)


def test_setup_still_takes_none_and_good_values():
    import numpy as np

    cfg = config.setup("smoke", steps=None, lr=1, batch_size=np.int64(2), width=np.int32(4), device="cpu")
    assert cfg.steps == config.PRESETS["smoke"]["steps"] and cfg.lr == 1.0 and isinstance(cfg.lr, float)
    assert cfg.batch_size == 2 and cfg.width == 4
    with pytest.raises(ValueError, match="batch_size=np.int64.0."):
        config.setup("smoke", batch_size=np.int64(0))


# --- rejected before any kernel starts --------------------------------------------------------------------------


@pytest.fixture
def no_kernel(monkeypatch):
    """Fails the test if anything tries to execute a notebook."""
    started = []

    def refuse(*args, **kwargs):
        started.append(args)
        raise AssertionError("a notebook was executed")

    monkeypatch.setattr(runner, "execute_notebook", refuse)
    monkeypatch.setattr(batch, "execute_notebook", refuse)
    import papermill

    monkeypatch.setattr(papermill, "execute_notebook", refuse)
    return started


@pytest.mark.parametrize(("assignment", "expected"), [
    ("seed=abc", "seed='abc' is not valid: expected an int >= 0"),
    ("seed=-1", "seed='-1' is not valid: expected an int >= 0"),
    ("device=tpu", "device='tpu' is not valid: expected one of auto | cpu | cuda | cuda:N | mps"),
    ("steps=-1", "steps='-1' is not valid: expected an int >= 1, or none"),
    ("steps=abc", "steps='abc' is not valid: expected an int >= 1, or none"),
    ("steps=2.5", "steps='2.5' is not valid: expected an int >= 1, or none"),
    ("batch_size=0", "batch_size='0' is not valid: expected an int >= 1, or none"),
])
def test_cli_rejects_bad_values_before_any_kernel(tmp_path, capsys, no_kernel, assignment, expected):
    runs = tmp_path / "runs"
    code = main(["reproduce", "--preset", "smoke", "--notebook", "vfhgan/05_training", "--set", assignment,
                 "--runs-dir", str(runs), "--quiet", "--no-report"])
    err = capsys.readouterr().err
    assert code == 2
    assert f"vfhgan/05_training: parameter {expected}" in err
    assert err.count("\n") == 1  # one line, no traceback
    assert not runs.exists() and no_kernel == []


def test_cli_grid_and_sweep_values_are_checked_too(tmp_path, capsys, no_kernel):
    runs = tmp_path / "runs"
    assert main(["reproduce", "--notebook", "vfhgan/05_training", "--grid", "seed=0,x", "--runs-dir", str(runs)]) == 2
    assert "vfhgan/05_training: parameter seed='x' is not valid" in capsys.readouterr().err
    sweep = tmp_path / "sweep.yaml"
    sweep.write_text("notebooks: [vfhgan/05_training]\npreset: smoke\nset: {steps: 2.5}\ngrid: {seed: [0, 1]}\n")
    assert main(["reproduce", "--sweep", str(sweep), "--runs-dir", str(runs)]) == 2
    assert "vfhgan/05_training: parameter steps=2.5 is not valid: expected an int >= 1" in capsys.readouterr().err
    sweep.write_text("papers: [vfhgan]\npreset: smoke\ngrid: {seed: [0, minus one]}\n")
    assert main(["reproduce", "--sweep", str(sweep), "--runs-dir", str(runs)]) == 2
    assert "parameter seed='minus one' is not valid" in capsys.readouterr().err
    assert not runs.exists() and no_kernel == []


def test_execute_notebook_converts_and_checks_before_papermill(tmp_path, monkeypatch):
    src = tmp_path / "a.py"
    src.write_text(textwrap.dedent('''\
        # %% tags=["parameters"]
        preset: str = "course"  # smoke | course | gpu | paper
        steps: int | None = None  # >= 1
        '''))
    import papermill

    monkeypatch.setattr(papermill, "execute_notebook", lambda *a, **k: pytest.fail("papermill was called"))
    with pytest.raises(NotebookParameterError, match="steps='2.5'"):
        runner.execute_notebook(src, tmp_path / "o.ipynb", {"steps": "2.5"})
    nb = runner.read_source(src)
    assert runner.check_parameters(nb, {"steps": "7", "preset": "smoke"}, "a") == {"steps": 7, "preset": "smoke"}
    assert not (tmp_path / "o.ipynb").exists()


# --- --set goes to the named notebooks --------------------------------------------------------------------------


def test_set_applies_to_the_named_notebook_only(capsys, no_kernel, tmp_path):
    code = main(["reproduce", "--notebook", "vfhgan/05_training", "--set", "steps=200", "--set", "seed=1",
                 "--dry-run", "--runs-dir", str(tmp_path / "runs")])
    out = capsys.readouterr().out
    assert code == 0, out
    specs = batch.plan("course", notebooks=["vfhgan/05_training"], parameters={"steps": "200", "seed": "1"})
    assert [(s.notebook.id, s.parameters) for s in specs] == [
        ("vfhgan/01_data", {"preset": "course"}),
        ("vfhgan/03_lipreading_loss", {"preset": "course"}),
        ("vfhgan/04_architecture", {"preset": "course"}),
        ("vfhgan/05_training", {"preset": "course", "steps": 200, "seed": 1}),
    ]
    assert "vfhgan/05_training" in out and "steps=200 seed=1" in out and "dry run" in out
    assert not (tmp_path / "runs").exists() and no_kernel == []


def test_a_name_no_named_notebook_declares_is_rejected(capsys, no_kernel):
    assert main(["reproduce", "--notebook", "vfhgan/01_data", "--set", "steps=3", "--dry-run"]) == 2
    assert "vfhgan/01_data: parameter(s) ['steps'] not declared" in capsys.readouterr().err
    assert main(["reproduce", "--paper", "vfhgan", "--set", "stepz=3", "--dry-run"]) == 2
    assert "parameter 'stepz' is declared by none of the named notebooks" in capsys.readouterr().err
    # a name some of the named notebooks declare goes to those only
    specs = batch.plan("smoke", papers=["vfhgan"], parameters={"steps": "5"})
    assert {s.notebook.id for s in specs if "steps" in s.parameters} == {"vfhgan/02_frequency_loss",
                                                                          "vfhgan/05_training"}
    assert no_kernel == []
