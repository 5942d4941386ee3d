"""mnv3lib: the companion library of the book "MobileNetV3, inside out".

Importing it prints nothing, downloads nothing, seeds nothing and changes no global setting.
Chapters call :func:`mnv3lib.engine.reproducibility.set_seed` and :func:`mnv3lib.viz.plotting.use_book_style`
themselves.
"""

from .models import mobilenet_v3_large, mobilenet_v3_small

__version__ = "0.1.0"
__all__ = ["__version__", "mobilenet_v3_large", "mobilenet_v3_small"]
