"""Serve the vendored ipywidgets JavaScript from a static folder that Jupyter Book does not auto-inject.

Jupyter Book 1 adds every .js file found in the static folders it knows at config time to every page.
Appending ``_widgets_static`` afterwards (at ``config-inited``) copies the files to ``_static/ipywidgets``
without that injection; ``nb_ipywidgets_js`` in ``_config.yml`` then loads them on widget pages only.
"""

from pathlib import Path


def _add_static(app, config):
    config.html_static_path.append(str(Path(app.srcdir) / "_widgets_static"))


def setup(app):
    app.connect("config-inited", _add_static)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
