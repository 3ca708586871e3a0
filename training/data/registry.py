"""Dataset specs: one string (in a config or on the command line) names any dataset.

Grammar: ``<kind>:<target>[?key=value&key=value...]``; keyword arguments to :func:`open_dataset`
override query values. Kinds and keys:

* ``synthetic:<indoor|outdoor>:<train|test>`` — ``n`` (frames, default 1000), ``size`` (square
  side in pixels, default 256), ``hfov`` (horizontal field of view in degrees: ``45`` or a
  range ``40-110``; default 50-100), ``pitch`` (camera pitch in degrees, negative looks down:
  ``-10`` or a range ``-45:15``; default indoor -30:15, outdoor -15:8), ``cache`` (1/0, default
  1), ``workers`` (processes).
* ``tum:<path>`` — a TUM RGB-D sequence folder: ``split`` (train = first 80 % by time, test =
  the last 20 %, all; default all), ``every`` (keep every k-th frame), ``K`` (fx,fy,cx,cy when
  the folder is not a freiburg1 sequence).
* ``folder:<path>`` — ``depth_scale`` (PNG units per metre, default 1000), ``depth`` (1/0: use
  the depth folder, default 1).
* ``bag:<path>`` — ``image`` (topic, required), ``depth`` (topic: labeled pairs),
  ``camera_info`` (topic), ``tolerance`` (s, default 0 = exact stamps), ``every`` (keep every
  k-th frame), ``n`` (at most n frames).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable
from urllib.parse import parse_qsl

from depth_anything_ros.training.data.samples import DepthDataset


class DatasetSpecError(ValueError):
    """A dataset spec string is malformed; the message quotes the spec and the reason."""


@dataclass(frozen=True)
class DatasetSpec:
    kind: str
    target: str
    params: dict[str, str] = field(default_factory=dict)


def parse_spec(spec: str) -> DatasetSpec:
    """Split ``kind:target?query`` (no I/O; values stay strings)."""
    if not isinstance(spec, str) or ":" not in spec:
        raise DatasetSpecError(
            f"dataset spec {spec!r} must look like kind:target[?key=value&...] "
            f"with kind one of {', '.join(_OPENERS)}"
        )
    kind, rest = spec.split(":", 1)
    target, _, query = rest.partition("?")
    if kind not in _OPENERS:
        raise DatasetSpecError(
            f"dataset spec {spec!r}: unknown kind {kind!r}; use one of {', '.join(_OPENERS)}"
        )
    if not target:
        raise DatasetSpecError(f"dataset spec {spec!r}: nothing after '{kind}:'")
    try:
        params = dict(parse_qsl(query, keep_blank_values=True, strict_parsing=bool(query)))
    except ValueError as error:
        raise DatasetSpecError(f"dataset spec {spec!r}: bad query {query!r} ({error})") from None
    return DatasetSpec(kind, target, params)


def _int(spec: str, key: str, value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise DatasetSpecError(
            f"dataset spec {spec!r}: {key} must be an integer, got {value!r}"
        ) from None


def _float(spec: str, key: str, value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        raise DatasetSpecError(
            f"dataset spec {spec!r}: {key} must be a number, got {value!r}"
        ) from None


def _bool(spec: str, key: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise DatasetSpecError(f"dataset spec {spec!r}: {key} must be 1/0 or true/false, got {value!r}")


def _check_keys(spec: str, params: dict, allowed: tuple[str, ...]) -> None:
    unknown = sorted(set(params) - set(allowed))
    if unknown:
        raise DatasetSpecError(
            f"dataset spec {spec!r}: unknown key(s) {', '.join(unknown)}; "
            f"allowed: {', '.join(allowed)}"
        )


def _hfov(spec: str, value: Any) -> tuple[float, float]:
    """``45`` → (45, 45); ``40-110`` → (40, 110); checked: within 1..179 and lo ≤ hi."""
    from depth_anything_ros.training.data.synthetic import hfov_range

    text = str(value)
    lo, sep, hi = text.partition("-")
    try:
        bounds = (float(lo), float(hi)) if sep else float(text)
        return hfov_range(bounds)
    except ValueError as error:
        raise DatasetSpecError(
            f"dataset spec {spec!r}: hfov must be degrees like 60 or 40-110 "
            f"({error if 'field of view' in str(error) else 'not a number'}), got {text!r}"
        ) from None


def _pitch(spec: str, value: Any) -> tuple[float, float]:
    """``-10`` → (-10, -10); ``-45:15`` → (-45, 15); checked: within -89..89 and lo ≤ hi. A colon
    separates the bounds because either may be negative."""
    from depth_anything_ros.training.data.synthetic import pitch_bounds

    text = str(value)
    lo, sep, hi = text.partition(":")
    try:
        return pitch_bounds((float(lo), float(hi)) if sep else float(text))
    except ValueError as error:
        raise DatasetSpecError(
            f"dataset spec {spec!r}: pitch must be degrees like -10 or -45:15 "
            f"({error if 'camera pitch' in str(error) else 'not a number'}), got {text!r}"
        ) from None


def _open_synthetic(spec: str, target: str, p: dict) -> DepthDataset:
    from depth_anything_ros.training.data.synthetic_dataset import SyntheticDataset

    _check_keys(spec, p, ("n", "size", "hfov", "pitch", "cache", "workers"))
    domain, _, split = target.partition(":")
    if not split:
        raise DatasetSpecError(f"dataset spec {spec!r}: expected synthetic:<domain>:<split>")
    try:
        return SyntheticDataset(
            domain,
            split,
            _int(spec, "n", p.get("n", 1000)),
            _int(spec, "size", p.get("size", 256)),
            cache=_bool(spec, "cache", p.get("cache", True)),
            workers=_int(spec, "workers", p["workers"]) if "workers" in p else None,
            hfov=_hfov(spec, p["hfov"]) if "hfov" in p else None,
            pitch=_pitch(spec, p["pitch"]) if "pitch" in p else None,
        )
    except DatasetSpecError:
        raise
    except ValueError as exc:  # the dataset's own checks: domain, split, n, size
        raise DatasetSpecError(f"dataset spec {spec!r}: {exc}") from None


def _open_tum(spec: str, target: str, p: dict) -> DepthDataset:
    from depth_anything_ros.training.data.tum import TUM_SPLITS, TumDataset

    _check_keys(spec, p, ("split", "every", "K"))
    split = p.get("split", "all")
    if split not in TUM_SPLITS:
        raise DatasetSpecError(
            f"dataset spec {spec!r}: split must be one of {', '.join(TUM_SPLITS)}, got {split!r}"
        )
    intrinsics = None
    if "K" in p:
        parts = str(p["K"]).split(",")
        if len(parts) != 4:
            raise DatasetSpecError(f"dataset spec {spec!r}: K must be fx,fy,cx,cy (4 numbers)")
        intrinsics = tuple(_float(spec, "K", v) for v in parts)
    return TumDataset(
        target, split=split, every=_int(spec, "every", p.get("every", 1)), intrinsics=intrinsics
    )


def _open_folder(spec: str, target: str, p: dict) -> DepthDataset:
    from depth_anything_ros.training.data.folders import FolderDataset

    _check_keys(spec, p, ("depth_scale", "depth"))
    return FolderDataset(
        target,
        depth_scale=_float(spec, "depth_scale", p.get("depth_scale", 1000.0)),
        use_depth=_bool(spec, "depth", p.get("depth", True)),
    )


def _open_bag(spec: str, target: str, p: dict) -> DepthDataset:
    from depth_anything_ros.training.data.bags import BagDataset

    _check_keys(spec, p, ("image", "depth", "camera_info", "tolerance", "every", "n"))
    if not p.get("image"):
        raise DatasetSpecError(f"dataset spec {spec!r}: bag datasets need image=<topic>")
    return BagDataset(
        target,
        p["image"],
        p.get("depth") or None,
        camera_info_topic=p.get("camera_info") or None,
        tolerance=_float(spec, "tolerance", p.get("tolerance", 0.0)),
        every=_int(spec, "every", p.get("every", 1)),
        max_frames=_int(spec, "n", p["n"]) if "n" in p else None,
    )


_OPENERS: dict[str, Callable[[str, str, dict], DepthDataset]] = {
    "synthetic": _open_synthetic,
    "folder": _open_folder,
    "bag": _open_bag,
    "tum": _open_tum,
}


def check_spec(spec: str) -> None:
    """Open the dataset a spec names as cheaply as it can be, to find a typo before hours of
    earlier stages: bags, folders and TUM sequences are indexed (no pixels read); a synthetic
    spec renders one uncached sample (its full set costs minutes). Raises what `open_dataset`
    raises."""
    if parse_spec(spec).kind == "synthetic":
        open_dataset(spec, n=1, cache=False)
    else:
        open_dataset(spec)


def held_out_note(spec: str) -> str | None:
    """Why training on `spec` would use the held-out TUM frames (the last 20 % by time, which
    every figure here is measured on), or None."""
    parsed = parse_spec(spec)
    split = parsed.params.get("split", "all")
    if parsed.kind == "tum" and split != "train":
        return (f"dataset spec {spec!r} (split={split}) includes the held-out last 20 % of the "
                "TUM sequence; train on split=train and keep split=test for evaluation")
    return None


def open_dataset(spec: str, **overrides: Any) -> DepthDataset:
    """The dataset a spec names; ``overrides`` (e.g. ``n=2000, size=256``) beat query values."""
    parsed = parse_spec(spec)
    params: dict[str, Any] = {
        **parsed.params,
        **{k: v for k, v in overrides.items() if v is not None},
    }
    return _OPENERS[parsed.kind](spec, parsed.target, params)
