"""Errors as the command line shows them: one line that names the flags which fix the problem, and an exit
code (2 for usage and settings errors, 1 for everything else a user can fix)."""

from __future__ import annotations

from collections.abc import Mapping

from fomm_cli import errors as e


def exit_code(err: e.FommError) -> int:
    return 2 if isinstance(err, e.SettingsError) else 1


def render(err: e.FommError, flags: Mapping[str, str]) -> str:
    """The message for ``err``; ``flags`` maps the running command's option fields to their spelling."""

    def flag(setting: str) -> str:
        return flags.get(setting, setting)

    match err:
        case e.InvalidSetting():
            return f"{flag(err.setting)} must be {err.expected}, not {_shown(err.value)}"
        case e.ConflictingSettings():
            return f"{' and '.join(flag(s) for s in err.settings)}: {err.reason}"
        case e.MissingSetting():
            return f"{flag(err.setting)} is required: {err.reason}"
        case e.OutputExists() if not err.during_run and "resume" in flags:
            return f"{err.path} is not empty (pass --resume to continue the run in it, or -y to start over)"
        case e.OutputExists() if not err.during_run:
            return f"{err.path} exists (pass -y to overwrite)"
        case e.UntrustedCheckpoint():
            return f"{err}; if you trust its source, pass --trust-checkpoint to load it with full unpickling"
        case e.UnknownModel():
            return f"{err.args[0][:-1]}; or pass --checkpoint PATH)"
        case e.ModelUnavailable():
            fetch = f"run `fomm models download {err.name}` while online, " if err.downloadable else ""
            message = f"{err.name}: {err.reason}; {fetch}{err.how_to_get} (or pass --checkpoint PATH)"
            if err.is_default:
                message = f"no model given and the default face model is unavailable: {message}; " \
                          "or try the bundled offline model with --model demo"
            return message
        case e.DeviceUnavailable():
            return f"--device {err.name}: {err.reason}"
        case e.NoFaceFound():
            return f"{err}{_face_hint(err.where, flags)}"
    return str(err)


def _face_hint(where: str, flags: Mapping[str, str]) -> str:
    if "source" in where and "crop" in flags:
        return " (pass --no-crop to animate the whole image)"
    if "driving" in where and "crop_driving" in flags:
        return " (drop --crop-driving to use the video as it is)"
    return ""


def _shown(value: object) -> str:
    return repr(value) if isinstance(value, str) else str(value)
