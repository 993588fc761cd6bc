"""Jobs: one per command, files in to files out, no command-line knowledge.

Every job module has the same shape:

- ``Options``: a frozen dataclass, the job's settings, declared once. Its ``__post_init__`` checks every
  value that can be checked without heavy imports and raises ``fomm_cli.errors`` settings errors naming
  the field. The CLI builds its flags from these fields (``fomm_cli.cli.options``).
- ``Summary``: a dataclass returned by ``run`` (never written into the options); ``to_json()`` gives the
  ``--json`` object.
- ``check(options)`` (where there is something to check): the checks on paths and outputs that need no
  model, so that a bad path fails in well under a second, before torch is imported.
- ``run(options, reporter) -> Summary``: does the work, reporting notes, warnings and progress through
  the ``fomm_cli.reporting.Reporter`` as they happen; raises ``fomm_cli.errors`` exceptions.

Modules here import torch and the models inside ``run`` only.
"""
