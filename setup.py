"""Shim for Beam's --setup_file (ships this package to remote workers); metadata is in pyproject.toml."""
from setuptools import setup

setup()
