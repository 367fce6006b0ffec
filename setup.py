"""Builds the native decoders (Cython: OTLP protobuf, PutMetricData JSON, X-Ray segment
documents, Prometheus remote write) and PromQL's window kernel; everything else is in
pyproject.toml."""

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
            ),
            Extension(
                "vigil.ingest._putmetricdata",
                ["src/vigil/ingest/_putmetricdata.pyx"],
                extra_compile_args=["-O2"],
                optional=True,
            ),
            Extension(
                "vigil.ingest._xray",
                ["src/vigil/ingest/_xray.pyx"],
                extra_compile_args=["-O2"],
                optional=True,
            ),
            Extension(
                "vigil.ingest.prom._remotewrite",
                ["src/vigil/ingest/prom/_remotewrite.pyx"],
                extra_compile_args=["-O2"],
                optional=True,
            ),
            # PromQL's pushdown kernel (without it the general path answers).
            Extension(
                "vigil.query.promql._windows",
                ["src/vigil/query/promql/_windows.pyx"],
                extra_compile_args=["-O2"],
                optional=True,
            ),
        ],
        language_level=3,
    )
)
