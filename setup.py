"""The one native part of loglake: the head of a one-line record (loglake/_linehead.c, see loglake/linehead.py).

Everything else is in pyproject.toml. The extension is optional: without a C compiler the install goes on and
loglake takes the Python path for those records, more slowly. It uses the limited API, so one build serves
every Python from 3.11; the Lambda layers cross-build it for their architecture (layers/native.py).
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "loglake._linehead",
            ["loglake/_linehead.c"],
            py_limited_api=True,
            extra_compile_args=["-O3"],
            optional=True,
        )
    ]
)
