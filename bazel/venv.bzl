"""A repository rule that points Bazel's Python toolchain at the project's .venv.

`py_runtime.interpreter_path` must be absolute, and the clone can live anywhere, so the path
is computed here (locally, no network) from where this workspace is.
"""

def _venv_python_impl(ctx):
    root = ctx.path(Label("//:WORKSPACE")).dirname
    python = "%s/.venv/bin/python" % root
    ctx.file("BUILD", """
load("@bazel_tools//tools/python:toolchain.bzl", "py_runtime_pair")

py_runtime(
    name = "runtime",
    interpreter_path = "{python}",
    python_version = "PY3",
)

py_runtime_pair(name = "pair", py3_runtime = ":runtime")

toolchain(
    name = "toolchain",
    toolchain = ":pair",
    toolchain_type = "@bazel_tools//tools/python:toolchain_type",
)
""".format(python = python))

venv_python = repository_rule(
    implementation = _venv_python_impl,
    local = True,
)
