"""Safe reading of weight files and strict key/shape comparison with clear errors.

Only two readers exist: safetensors (no code at all) and `torch.load(weights_only=True)`
(a restricted unpickler that refuses any global outside plain tensors and containers), so a
checkpoint can never run code on the robot.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import zipfile
from pathlib import Path
from typing import Any, Mapping

import torch

MAX_LISTED = 5  # how many differing keys an error message names


class CheckpointError(ValueError):
    """A weight file that cannot be used; the message names the file and the reason."""


def require_existing(path: Path, missing: str = "no such file") -> None:
    """CheckpointError unless `path` exists; a dangling or looping symlink is named as such."""
    if not path.exists():
        if path.is_symlink():
            raise CheckpointError(f"{path}: a symlink to nothing (broken, or a loop)")
        raise CheckpointError(f"{path}: {missing}")


def file_sha256(path: Path) -> str:
    """sha256 of a weight file's bytes, read in 1 MiB blocks: tells a retrained file at the same
    path from the old one (pseudo-labels' teacher, a fleet's model)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _check_file(path: Path) -> None:
    require_existing(path)
    if path.is_dir():
        raise CheckpointError(f"{path}: is a directory without config.json + model.safetensors")
    if path.stat().st_size == 0:
        raise CheckpointError(f"{path}: file is empty")
    if not os.access(path, os.R_OK):
        raise CheckpointError(f"{path}: not readable (permission denied)")


# Leading bytes of files people mistake for checkpoints, so a refusal can say what the file is.
_OTHER_FORMATS = (
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF8", "a GIF image"),
    (b"\x1f\x8b", "gzip-compressed data"),
    (b"<?xml", "an XML file (an OpenVINO model?)"),
    (b"{", "text (JSON?)"),
)


def _torch_container(path: Path) -> str | None:
    """None when `path` starts like a torch.save file (zip, or a legacy pickle), else what it
    looks like instead: a PNG passed as weights must not be called 'Python objects'."""
    with open(path, "rb") as handle:
        head = handle.read(16)
    if head.startswith(b"PK\x03\x04") or head[:1] == b"\x80":
        return None
    if len(head) >= 9 and head[8:9] == b"{" and int.from_bytes(head[:8], "little") < 1 << 27:
        return "a safetensors file (give it the .safetensors suffix)"
    for magic, description in _OTHER_FORMATS:
        if head.startswith(magic):
            return description
    return "not a zip archive or pickle"


def read_safetensors(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """All tensors and the string metadata of a .safetensors file."""
    from safetensors import safe_open

    _check_file(path)
    try:
        tensors: dict[str, torch.Tensor] = {}
        with safe_open(str(path), framework="pt", device="cpu") as handle:
            metadata = dict(handle.metadata() or {})
            for key in handle.keys():
                tensors[key] = handle.get_tensor(key)
    except CheckpointError:
        raise
    except Exception as error:  # safetensors raises its own SafetensorError and OSError types
        raise CheckpointError(f"{path}: not a readable safetensors file ({error})") from error
    return tensors, metadata


def read_safetensors_header(path: Path) -> tuple[dict[str, tuple[int, ...]], dict[str, str]]:
    """Key → shape and metadata without reading tensor data (cheap inspection)."""
    from safetensors import safe_open

    _check_file(path)
    try:
        with safe_open(str(path), framework="pt", device="cpu") as handle:
            metadata = dict(handle.metadata() or {})
            shapes = {key: tuple(handle.get_slice(key).get_shape()) for key in handle.keys()}
    except Exception as error:
        raise CheckpointError(f"{path}: not a readable safetensors file ({error})") from error
    return shapes, metadata


def read_torch_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """A plain state_dict from a .pth/.pt via the restricted unpickler (weights_only=True)."""
    _check_file(path)
    other = _torch_container(path)
    if other is not None:
        raise CheckpointError(
            f"{path}: not a PyTorch checkpoint ({other}); expected an official .pth/.pt "
            "state_dict, our .safetensors or a Hugging Face model folder")
    try:
        # No mmap: a file rewritten in place (torch.save to the same path) would change the
        # weights of a model that is already loaded.
        obj = torch.load(str(path), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        raise CheckpointError(
            f"{path}: refused to load: the file contains Python objects other than tensors "
            f"(only safetensors or plain state_dicts are accepted; weights_only=True said: "
            f"{str(error).splitlines()[0]})"
        ) from error
    except (RuntimeError, EOFError, OSError, zipfile.BadZipFile, ValueError, KeyError) as error:
        raise CheckpointError(
            f"{path}: not a readable PyTorch checkpoint, truncated or corrupt ({error})"
        ) from error
    return unwrap_state_dict(obj, path)


def unwrap_state_dict(obj: Any, path: Path) -> dict[str, torch.Tensor]:
    """Accept a plain state_dict, or one nested under 'model'/'state_dict' (training saves)."""
    if isinstance(obj, Mapping):
        for wrapper in ("model", "state_dict"):
            inner = obj.get(wrapper)
            if isinstance(inner, Mapping) and not isinstance(
                obj.get("pretrained.cls_token"), torch.Tensor
            ):
                obj = inner
                break
    if not isinstance(obj, Mapping) or not obj:
        raise CheckpointError(
            f"{path}: expected a non-empty state_dict (name → tensor), got {type(obj).__name__}"
        )
    not_tensors = [k for k, v in obj.items() if not isinstance(v, torch.Tensor)]
    if not_tensors:
        raise CheckpointError(f"{path}: entries that are not tensors: {not_tensors[:MAX_LISTED]}")
    state = {str(k): v for k, v in obj.items()}
    if all(k.startswith("module.") for k in state):  # saved from DistributedDataParallel
        state = {k[len("module.") :]: v for k, v in state.items()}
    return state


def read_json(path: Path) -> dict[str, Any]:
    _check_file(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise CheckpointError(f"{path}: not valid JSON ({error})") from error
    if not isinstance(data, dict):
        raise CheckpointError(f"{path}: expected a JSON object, got {type(data).__name__}")
    return data


def describe_mismatch(
    expected: Mapping[str, tuple[int, ...]], found: Mapping[str, tuple[int, ...]]
) -> str | None:
    """None when keys and shapes agree exactly, else the first differing keys and shapes."""
    missing = [k for k in expected if k not in found]
    unexpected = [k for k in found if k not in expected]
    wrong_shape = [
        (k, tuple(expected[k]), tuple(found[k]))
        for k in expected
        if k in found and tuple(expected[k]) != tuple(found[k])
    ]
    parts = []
    if missing:
        parts.append(f"{len(missing)} missing keys, first: {missing[:MAX_LISTED]}")
    if unexpected:
        parts.append(f"{len(unexpected)} unexpected keys, first: {unexpected[:MAX_LISTED]}")
    if wrong_shape:
        listed = ", ".join(
            f"{k}: expected {e}, file has {f}" for k, e, f in wrong_shape[:MAX_LISTED]
        )
        parts.append(f"{len(wrong_shape)} shape mismatches, first: {listed}")
    return "; ".join(parts) or None


def shapes_of(state: Mapping[str, torch.Tensor]) -> dict[str, tuple[int, ...]]:
    return {k: tuple(v.shape) for k, v in state.items()}
