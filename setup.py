"""Shim for tools that still run ``python setup.py ...``: all metadata is in pyproject.toml."""
from setuptools import setup

setup()
