import os

# Keep each test process to one thread: the CI machine has 2 cores and pytest-xdist runs 2 workers.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("AVFH_TRAIN_PROCESSES", "1")  # and each notebook a test executes trains its runs in-process

import pytest  # noqa: E402
import torch  # noqa: E402

torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _isolated_outputs(tmp_path_factory, monkeypatch):
    """Tests never write into the committed figures/ or the shared cache unless they ask to."""
    base = tmp_path_factory.getbasetemp()
    monkeypatch.setenv("AVFH_FIGURES", str(base / "figures"))
    monkeypatch.setenv("AVFH_HOME", os.environ.get("AVFH_TEST_HOME", str(base / "avfh_home")))
    monkeypatch.setenv("AVFH_RESULTS", str(base / "results" / f"{os.getpid()}.json"))
    torch.use_deterministic_algorithms(False)
    yield


@pytest.fixture
def benchmark_module():
    """load(name) -> the module benchmarks/<name>.py (the benchmarks are scripts, not a package)."""
    import importlib.util
    from pathlib import Path

    def load(name: str):
        path = Path(__file__).resolve().parent.parent / "benchmarks" / f"{name}.py"
        spec = importlib.util.spec_from_file_location(name, path)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        return mod

    return load
