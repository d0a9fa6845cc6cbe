"""Entry module the Python worker loads (app setting PYTHON_SCRIPT_FILE_NAME=main.py).

A root ``function_app.py`` would be shadowed by the ``function_app/`` package, hence this name.
"""

from function_app import app

__all__ = ["app"]
