"""Builds the native OTLP decoders (Cython); everything else is in pyproject.toml."""

from Cython.Build import cythonize
from setuptools import Extension, setup

setup(
    ext_modules=cythonize(
        [
            Extension(
                "vigil.ingest.otlp._wire",
                ["src/vigil/ingest/otlp/_wire.pyx"],
                extra_compile_args=["-O2"],
                # Without a C compiler vigil still installs and runs on the reference
                # decoders (vigil.ingest.otlp.native logs a warning).
                optional=True,
            )
        ],
        language_level=3,
    )
)
