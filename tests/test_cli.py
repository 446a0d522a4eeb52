"""pipeline.cli and the command modules: defaults taken from the configs, a quiet start-up."""
import pytest

from pipeline.cli import build_parser
from pipeline.config import CentreConfig, DataConfig


def test_data_command_defaults_are_the_data_config_defaults():
    from pipeline.commands.data import config_from_args

    args = build_parser().parse_args(["data"])
    assert config_from_args(args) == DataConfig()
    args = build_parser().parse_args(["data", "--crop", "64", "--band", "90", "--centre-method", "com"])
    assert config_from_args(args) == DataConfig(crop_size=64, centre=CentreConfig(band_mm=90.0, method="com"))
    with pytest.raises(Exception, match="crop size must be >= 16 px"):
        config_from_args(build_parser().parse_args(["data", "--crop", "8"]))
