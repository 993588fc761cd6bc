"""Model files that ship with fomm: ``registry.yaml`` (named models) and the ``demo`` model.

Installed as the package ``fomm_cli.bundled`` (see pyproject.toml), so a wheel carries them and
``fomm_cli.registry`` finds them with the import system, wherever the package is installed.
"""
