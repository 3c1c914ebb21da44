"""point2act's nerfstudio glue: the only part of point2act that imports nerfstudio.

One module per nerfstudio role (``config``, ``model``, ``datamanager``, ``trainer``), the viewer panel
(``viewer/``), the run layer that loads a trained run (``run``), the CPU compatibility patch
(``compat``) and the one module with import-time effects (``hooks``: torch.load safe globals for
checkpoints, and the one-paragraph excepthook in ``ns-*`` programs). Importing this package runs them.
"""

from point2act.method import hooks  # noqa: F401  (the only import-time effects of point2act)
