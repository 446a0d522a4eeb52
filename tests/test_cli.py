"""pipeline.cli and the command modules: defaults taken from the configs, a quiet start-up."""
import importlib.util
import os
import subprocess
import sys

import pytest

from pipeline import cli
from pipeline.cli import build_parser, verbose_requested
from pipeline.commands.data import config_from_args
from pipeline.config import CentreConfig, DataConfig


def test_data_command_defaults_are_the_data_config_defaults():
    args = build_parser().parse_args(["data"])
    assert config_from_args(args) == DataConfig()
    args = build_parser().parse_args(["data", "--crop", "64", "--band", "90", "--centre-method", "com"])
    assert config_from_args(args) == DataConfig(crop_size=64, centre=CentreConfig(band_mm=90.0, method="com"))
    with pytest.raises(Exception, match="crop size must be >= 16 px"):
        config_from_args(build_parser().parse_args(["data", "--crop", "8"]))


NOISE = ("oneDNN", "cuda", "cudart", "absl::InitializeLog", "cpu_feature_guard")


def _noise_lines(text: str) -> list[str]:
    return [l for l in text.splitlines() if any(n.lower() in l.lower() for n in NOISE)]


def _fake_library(tmp_path, name, body):
    """A module ``name`` under tmp_path that prints like TensorFlow's C++ start-up, then ``body``."""
    (tmp_path / f"{name}.py").write_text(
        "import os\n"
        "os.write(2, b'WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\\n')\n"
        "os.write(2, b'I0000 00:00:1796165290.286854   25031 cudart_stub.cc:31] Could not find cuda drivers\\n')\n"
        "os.write(2, b'E0000 00:00:1796165290.3   25031 something.cc:9] a real error\\n')\n" + body)


def test_quiet_import_drops_only_the_start_up_lines(tmp_path, monkeypatch, capfd):
    monkeypatch.syspath_prepend(str(tmp_path))
    _fake_library(tmp_path, "fake_tf_ok", "VALUE = 1\n")
    finder = cli._QuietImport("fake_tf_ok")
    monkeypatch.setattr("sys.meta_path", [finder, *sys.meta_path])
    assert importlib.util.find_spec("fake_tf_ok") is not None  # looking it up is no import
    assert finder in sys.meta_path
    import fake_tf_ok  # deferred: the import under test, once the finder is in place

    assert fake_tf_ok.VALUE == 1 and finder not in sys.meta_path
    err = capfd.readouterr().err
    assert err == "E0000 00:00:1796165290.3   25031 something.cc:9] a real error\n"


def test_quiet_import_keeps_everything_when_the_import_fails(tmp_path, monkeypatch, capfd):
    monkeypatch.syspath_prepend(str(tmp_path))
    _fake_library(tmp_path, "fake_tf_bad", "raise ImportError('libfoo.so: cannot open shared object file')\n")
    monkeypatch.setattr("sys.meta_path", [cli._QuietImport("fake_tf_bad"), *sys.meta_path])
    with pytest.raises(ImportError, match="libfoo"):
        import fake_tf_bad  # noqa: F401  # deferred: the import under test, once the finder is in place
    err = capfd.readouterr().err
    assert "cudart_stub.cc" in err and "a real error" in err


def test_quiet_import_drops_beams_warning_while_it_loads():
    probe = "from pipeline import cli; cli.quiet_framework_logs(); import apache_beam; print('loaded')"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=120)
    assert out.stdout == "loaded\n" and "apitools" not in out.stderr, out.stderr
    loud = subprocess.run([sys.executable, "-c", "import apache_beam"], capture_output=True, text=True, timeout=120)
    assert "apitools not found" in loud.stderr  # else Beam no longer warns: drop it from cli._STARTUP_NOISE


def test_the_cli_starts_without_tensorflow_keras_or_beam():
    # The rule of pipeline/commands/__init__.py: command modules import only light modules at their top.
    heavy = ("tensorflow", "keras", "apache_beam", "tensorflow_probability", "keras_tuner")
    probe = f"import sys, pipeline.cli; print(sorted(m for m in {heavy!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=120)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


def _sdnet(tmp_path, *args, **env):
    clean = {k: v for k, v in os.environ.items() if k not in ("SDNET_VERBOSE", "TF_CPP_MIN_LOG_LEVEL")}
    return subprocess.run([sys.executable, "-m", "pipeline", *args], capture_output=True, text=True,
                          cwd=tmp_path, env={**clean, "TF_CPP_MIN_LOG_LEVEL": "2", **env}, timeout=300)


def test_commands_start_quietly_unless_verbose(tmp_path):
    # `sdnet train` imports TensorFlow before it reads the data dir.
    args = ["train", "--data", str(tmp_path / "none"), "--out", str(tmp_path / "run")]
    quiet = _sdnet(tmp_path, *args)
    assert quiet.returncode == 2
    (line,) = quiet.stderr.splitlines()  # the command's own error and nothing else
    assert line.startswith("sdnet train: error: ") and "manifest" in line, line
    verbose = _sdnet(tmp_path, "--verbose", *args)
    assert verbose.returncode == 2 and _noise_lines(verbose.stderr), verbose.stderr  # TensorFlow was loaded
    assert verbose.stderr.splitlines()[-1] == line


@pytest.mark.parametrize("value,verbose", [("", False), ("0", False), ("no", False), ("1", True), ("yes", True)])
def test_sdnet_verbose_environment_variable(monkeypatch, value, verbose):
    monkeypatch.setenv("SDNET_VERBOSE", value)
    assert verbose_requested() is verbose
    assert verbose_requested(flag=True) is True
