"""Packaging that pyproject.toml cannot declare: `schemas/` at the top of the repository (the one
source of the JSON Schemas, where editors and workflows look) becomes the package
`reconciler.schemas` in the wheel and in an editable install, via a `package_dir` mapping beside
the packages found under `reconciler/`. Everything else is in pyproject.toml."""

from setuptools import find_packages, setup

setup(
    packages=[*find_packages(include=["reconciler", "reconciler.*"]), "reconciler.schemas"],
    package_dir={"reconciler.schemas": "schemas"},
)
