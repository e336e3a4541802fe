"""`pytest_test`: one py_test per pytest file, run through //bazel:pytest_main.py."""

def pytest_test(name, src, deps = [], data = [], size = "medium", **kwargs):
    native.py_test(
        name = name,
        srcs = [src, "//bazel:pytest_main.py"],
        main = "//bazel:pytest_main.py",
        args = ["$(location %s)" % src],
        deps = deps,
        data = data,
        size = size,
        python_version = "PY3",
        **kwargs
    )
