"""`fomm models`: list, inspect, download and convert checkpoints."""

from __future__ import annotations

from pathlib import Path

import typer

from fomm_cli.cli.common import note, print_json

app = typer.Typer(help="List, inspect, download and convert models.", no_args_is_help=True, rich_markup_mode=None)


@app.command("list")
def list_command(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Show the named models and whether their weights are on this machine."""
    from fomm_cli.registry import list_models, locate

    rows = []
    for entry in list_models():
        cached = locate(entry)
        rows.append({**entry.to_dict(), "available": cached is not None, "path": str(cached) if cached else None})
    if as_json:
        print_json({"models": rows})
        return
    from rich.console import Console
    from rich.table import Table

    table = Table("name", "domain", "available", "description")
    for row in rows:
        available = "yes" if row["available"] else ("download" if row["hub"] else "manual")
        table.add_row(row["name"], row["domain"], available, row["description"])
    Console().print(table)


@app.command("info")
def info_command(
    model: str = typer.Argument(..., help="A checkpoint path (official .pth.tar or our folder) or a model name."),
    config: str | None = typer.Option(None, "--config", help="Official YAML or preset overriding the inferred one."),
    trust_checkpoint: bool = typer.Option(False, "--trust-checkpoint", help="Allow full unpickling (trusted files)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Print a checkpoint's architecture in the official `model_params` layout."""
    from fomm_cli.pretrained import load_model

    path = Path(model)
    loaded, source = load_model(None if path.exists() else model, checkpoint=path if path.exists() else None,
                                config=config, trust=trust_checkpoint, quiet=as_json, with_discriminator=True)
    params = {name: sum(p.numel() for p in part.parameters()) for name, part in loaded.parts().items()}
    info = {
        "path": str(source.path),
        "name": source.name,
        "family": loaded.config.family,
        "format": "fomm" if source.path.is_dir() else "official",
        "model_params": loaded.config.to_official(),
        "image_size": list(loaded.config.image_size),
        "align_corners": loaded.config.align_corners,
        "parameters": params,
    }
    if as_json:
        print_json(info)
        return
    import yaml

    print(f"# {source.path} ({info['format']} format)")
    print(yaml.safe_dump({"model_params": info["model_params"]}, sort_keys=False).rstrip())
    print(f"# image size {info['image_size'][0]}x{info['image_size'][1]}; parameters: "
          + ", ".join(f"{k} {v / 1e6:.2f}M" for k, v in params.items()))


@app.command("download")
def download_command(
    name: str = typer.Argument(..., help="A registered model name (see `fomm models list`)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Fetch a named model into the local cache (checksum verified) and print its path."""
    from fomm_cli.registry import download, get_entry

    path = download(get_entry(name), quiet=as_json)
    if as_json:
        print_json({"name": name, "path": str(path)})
    else:
        print(path)


@app.command("convert")
def convert_command(
    source: Path = typer.Argument(..., help="An official .pth.tar checkpoint."),
    output: Path = typer.Argument(..., help="Folder to write model.safetensors + config.json into."),
    config: str | None = typer.Option(None, "--config", help="Official YAML or preset (default: inferred)."),
    no_discriminator: bool = typer.Option(False, "--no-discriminator", help="Drop the discriminator weights."),
    trust_checkpoint: bool = typer.Option(False, "--trust-checkpoint", help="Allow full unpickling (trusted files)."),
    overwrite: bool = typer.Option(False, "-y", "--overwrite", help="Replace an existing output folder."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Convert an official checkpoint into our format (safetensors weights + config.json)."""
    from fomm_cli.checkpoints import load_model, save_pretrained
    from fomm_cli.config import config_from_yaml
    from fomm_cli.errors import FommError
    from fomm_cli.pretrained import preset_path

    if output.exists() and not overwrite:
        raise FommError(f"{output} exists (pass -y to overwrite)")
    model_config = config_from_yaml(preset_path(config)) if config else None
    model = load_model(source, config=model_config, trust=trust_checkpoint, with_discriminator=not no_discriminator)
    save_pretrained(model, output, with_discriminator=not no_discriminator)
    if as_json:
        print_json({"source": str(source), "path": str(output), "parts": sorted(model.parts())})
    else:
        note(f"wrote {output} ({', '.join(sorted(model.parts()))})")
