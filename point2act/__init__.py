"""point2act: where to act in 3D, from posed photos and a task in plain language.

This package is imported by nerfstudio's method discovery, so it must stay light:
no torch, no nerfstudio, no optional backends at import time.
"""

__version__ = "0.1.0"
