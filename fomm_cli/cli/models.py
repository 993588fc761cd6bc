"""`fomm models`: list, inspect, download and convert checkpoints."""

from __future__ import annotations

import typer

from fomm_cli.cli.common import JSON_FLAG, finish, print_json
from fomm_cli.cli.options import Flag, command, pipe_safe
from fomm_cli.jobs.models import ConvertOptions, InfoOptions

app = typer.Typer(help="List, inspect, download and convert models.", no_args_is_help=True, rich_markup_mode=None)


@app.command("list")
@pipe_safe
def list_command(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Show the named models and whether their weights are on this machine."""
    from fomm_cli.jobs.models import list_registry

    summary = list_registry()
    if as_json:
        print_json(summary.to_json())
        return
    from rich.console import Console
    from rich.table import Table

    table = Table("name", "domain", "available", "description")
    for row in summary.models:
        available = "yes" if row.available else ("download" if row.hub else "manual")
        table.add_row(row.name, row.domain, available, row.description)
    Console().print(table)


def _info(options: InfoOptions, as_json: bool) -> None:
    """Print a checkpoint's architecture in the official `model_params` layout."""
    from fomm_cli.jobs.models import info
    from fomm_cli.reporting import ConsoleReporter

    summary = info(options, ConsoleReporter(notes=not as_json))
    if as_json:
        print_json(summary.to_json())
        return
    import yaml

    print(f"# {summary.path} ({summary.family.upper()}, {summary.format} format; domain {summary.domain or 'unknown'})")
    print(yaml.safe_dump({"model_params": summary.model_params}, sort_keys=False).rstrip())
    print(f"# image size {summary.image_size[0]}x{summary.image_size[1]}; parameters: "
          + ", ".join(f"{k} {v / 1e6:.2f}M" for k, v in summary.parameters.items()))


INFO_FLAGS = {
    "model": Flag((), "A registered model name, or a checkpoint path (official .pth.tar or our folder)."),
    "config": Flag(("--config",), "Official YAML or preset overriding the inferred one."),
    "trust_checkpoint": Flag(("--trust-checkpoint",), "Allow full unpickling (trusted files)."),
}
app.command("info", no_args_is_help=True)(command(InfoOptions, INFO_FLAGS, _info, extra=JSON_FLAG))


@app.command("download", no_args_is_help=True)
@pipe_safe
def download_command(
    name: str = typer.Argument(..., help="A registered model name (see `fomm models list`)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Fetch a named model into the local cache (checksum verified) and print its path."""
    from fomm_cli.jobs.models import download
    from fomm_cli.reporting import ConsoleReporter

    summary = download(name, ConsoleReporter(notes=not as_json))
    if as_json:
        print_json(summary.to_json())
    else:
        print(summary.path)


def _convert(options: ConvertOptions, as_json: bool) -> None:
    """Convert an official checkpoint into our format (safetensors weights + config.json)."""
    from fomm_cli.jobs.models import check_convert, convert

    check_convert(options)
    finish(convert, options, as_json, lambda s: f"wrote {s.path} ({', '.join(s.parts)}; domain {s.domain})")


CONVERT_FLAGS = {
    "source": Flag((), "An official .pth.tar checkpoint."),
    "output": Flag((), "Folder to write model.safetensors + config.json into."),
    "config": Flag(("--config",), "Official YAML or preset (default: inferred)."),
    "discriminator": Flag(("--discriminator/--no-discriminator",), "Keep the discriminator weights."),
    "trust_checkpoint": Flag(("--trust-checkpoint",), "Allow full unpickling (trusted files)."),
    "overwrite": Flag(("-y", "--overwrite"), "Replace an existing output folder (one that holds only a model)."),
}
app.command("convert", no_args_is_help=True)(command(ConvertOptions, CONVERT_FLAGS, _convert, extra=JSON_FLAG))
