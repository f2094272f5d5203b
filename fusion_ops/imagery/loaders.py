"""Readers for image-fusion scenes (MATLAB ``.mat`` files, v5 or v7.3).

The named readers load the real scenes of ``../shared/data/imagery``; :func:`discover_pan_scenes`
finds the pansharpening scenes of any folder by what the files hold (toolbox-style MS + PAN
files, FuseBox-style ``{n}_ms.mat`` / ``{n}_pan.mat`` pairs) and takes the sensor, hence the MTF
gains, from the file when it names one.  Every reader returns float32 tensors in ``(C, H, W)``
layout plus the facts a fusion method needs (ratio, MTF gains, sampling phase, dynamic range).
Bad files raise (or, in discovery, report) :class:`ImageryFileError` naming the file and the
reason.
"""

from __future__ import annotations

import math
import re
import unicodedata
from dataclasses import dataclass, field, replace
from pathlib import Path

import h5py
import numpy as np
import scipy.io
import torch

from fusion_ops.imagery.degrade import (
    GENERIC_MTF_MS,
    GENERIC_MTF_PAN,
    SENSOR_MTF,
    centred_phase,
    gaussian_decimate,
)

#: Landsat-7 ETM+ pairs: MS pixel j is centred at PAN coordinate 2j - 0.5 (measured).
LANDSAT7_PHASE_PX: float = -0.5
#: Samson: 156 bands evenly spaced over 401-889 nm.
SAMSON_WAVELENGTHS_NM = np.linspace(401.0, 889.0, 156)
#: Camera database: 31 samples, 400-700 nm at 10 nm.
CAMERA_WAVELENGTHS_NM = np.arange(400.0, 701.0, 10.0)


class ImageryFileError(ValueError):
    """A scene file is missing, unreadable or lacks the expected variables/shapes."""


@dataclass
class PanScene:
    """A pansharpening pair: coarse MS and fine PAN of the same area."""

    name: str
    ms: torch.Tensor  # (C, h, w)
    pan: torch.Tensor  # (1, h*ratio, w*ratio)
    ratio: int
    mtf_ms: tuple[float, ...]
    mtf_pan: float
    phase_px: float
    max_value: float
    rgb_bands: tuple[int, int, int] = (0, 1, 2)
    sensor: str = "unknown"  # SENSOR_MTF key, or "unknown" (generic gains)
    notes: tuple[str, ...] = ()  # how layout, sensor, gains and phase were decided


@dataclass
class HsScene:
    """A hyperspectral cube with, optionally, a co-registered fine-resolution companion."""

    name: str
    hs: torch.Tensor  # (L, H, W)
    guide: torch.Tensor | None = None  # (c, H, W) MS or RGB at the same resolution as hs
    wavelengths_nm: np.ndarray | None = None
    extras: dict = field(default_factory=dict)


def _load_mat(path: Path, keys: tuple[str, ...]) -> dict:
    path = Path(path)
    if not path.is_file():
        raise ImageryFileError(f"{path}: file not found")
    try:
        data = scipy.io.loadmat(path)
    except Exception as exc:  # scipy raises several unrelated types for corrupt files
        raise ImageryFileError(f"{path}: not a readable MATLAB file ({exc})") from exc
    missing = [k for k in keys if k not in data]
    if missing:
        raise ImageryFileError(f"{path}: missing variable(s) {missing}")
    return data


def _hwc_to_chw(arr: np.ndarray) -> torch.Tensor:
    arr = np.asarray(arr, dtype=np.float32)
    if arr.ndim == 2:
        arr = arr[:, :, None]
    return torch.from_numpy(np.ascontiguousarray(arr.transpose(2, 0, 1)))


def _check_pair(path: Path, ms: torch.Tensor, pan: torch.Tensor, ratio: int) -> None:
    if pan.shape[-2:] != (ms.shape[-2] * ratio, ms.shape[-1] * ratio):
        raise ImageryFileError(
            f"{path}: PAN {tuple(pan.shape[-2:])} is not ratio {ratio} x MS {tuple(ms.shape[-2:])}"
        )


# --------------------------------------------------------------------------- sensors

#: Spellings of each sensor code of :data:`SENSOR_MTF`, compared after lower-casing, dropping
#: accents and keeping letters and digits only ("WorldView-2", "GeoEye-1", "Pléiades 1B", ...).
SENSOR_ALIASES: dict[str, tuple[str, ...]] = {
    "WV2": ("wv2", "wv02", "w2", "worldview2"),
    "WV3": ("wv3", "wv03", "w3", "worldview3"),
    "GE1": ("ge1", "ge01", "ge", "geoeye1", "geoeye"),
    "IKONOS": ("ikonos", "ikonos2", "ik", "ik01", "ik02"),
    "QB": ("qb", "qb02", "quickbird", "quickbird2"),
    "PLEIADES": ("pleiades", "pleiades1a", "pleiades1b", "phr", "phr1a", "phr1b", "pl1"),
    "L7": ("l7", "le7", "le07", "landsat7", "landsat7etm", "etm", "etmplus"),
}
_ALIAS_TO_CODE = {alias: code for code, names in SENSOR_ALIASES.items() for alias in names}


def _norm_name(text: str) -> str:
    text = text.replace("+", "plus")
    flat = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return "".join(ch for ch in flat.lower() if ch.isalnum())


def sensor_code(name: str | None) -> str | None:
    """The :data:`SENSOR_MTF` key a sensor name denotes (``"WorldView-2"`` -> ``"WV2"``), or None."""
    if not name:
        return None
    norm = _norm_name(str(name))
    return _ALIAS_TO_CODE.get(norm) or _ALIAS_TO_CODE.get(norm.removesuffix("etmplus"))


def sensor_gains(code: str | None, n_bands: int) -> tuple[tuple[float, ...], float, str]:
    """``(MS gains, PAN gain, description)`` for sensor ``code`` (None: the generic gains)."""
    if code is None:
        return (GENERIC_MTF_MS,) * n_bands, GENERIC_MTF_PAN, "generic gains (sensor unknown)"
    entry = SENSOR_MTF[code]
    gains, how = entry.ms_gains(n_bands)
    return gains, entry.pan, f"{how}, PAN {entry.pan} ({entry.source})"


# --------------------------------------------------------------------------- reading .mat files

#: Variables whose text names the sensor (case-insensitive); any other text variable counts too
#: when its value is a known sensor name.
_SENSOR_VARS = ("sensor", "sensor_name", "satellite", "platform", "spacecraft", "mission")
#: Names that break a tie between several MS/PAN pairs of one file (lower case, best first).
_MS_NAMES = ("i_ms_lr", "ms_lr", "lrms", "i_ms", "ms", "mul", "mss", "multispectral", "cropped_im")
_PAN_NAMES = ("i_pan", "pan", "panchromatic", "pan_hr", "cropped_gray")
_NUMERIC = {
    "double",
    "single",
    "uint8",
    "uint16",
    "uint32",
    "int8",
    "int16",
    "int32",
    "int64",
    "uint64",
    "logical",
}
_MIN_PAN_SIDE = 8
_MIN_MS_SIDE = 4
_MAX_RATIO = 32
#: FuseBox-style halves: ``{n}_ms.mat`` / ``{n}_pan.mat`` (also ``-``/``.`` separators).
_HALF_RE = re.compile(r"^(?P<stem>.+?)[_\-.](?P<kind>ms|pan)$", re.IGNORECASE)


@dataclass(frozen=True)
class _MatVar:
    name: str
    shape: tuple[int, ...]  # MATLAB order (rows, columns, pages)
    cls: str


def _is_v73(exc: Exception) -> bool:
    return isinstance(exc, NotImplementedError) or "HDF" in str(exc)


def _mat_variables(path: Path) -> list[_MatVar]:
    """Names, shapes and classes of a MATLAB file's variables (v5 via scipy, v7.3 via h5py)."""
    try:
        return [_MatVar(n, tuple(int(s) for s in sh), c) for n, sh, c in scipy.io.whosmat(path)]
    except Exception as exc:  # scipy raises several unrelated types for corrupt files
        if not _is_v73(exc):
            raise ImageryFileError(f"{path}: not a readable MATLAB file ({exc})") from exc
    try:
        with h5py.File(path, "r") as f:
            out = []
            for name, obj in f.items():
                if name.startswith("#") or not isinstance(obj, h5py.Dataset):
                    continue
                cls = obj.attrs.get("MATLAB_class", b"")
                cls = cls.decode() if isinstance(cls, bytes) else str(cls)
                out.append(_MatVar(name, tuple(int(s) for s in obj.shape[::-1]), cls))
            return out
    except Exception as exc:
        raise ImageryFileError(f"{path}: not a readable MATLAB v7.3 file ({exc})") from exc


def _read_variables(path: Path, names: list[str]) -> dict[str, np.ndarray | str]:
    """Values of ``names`` (text as ``str``, arrays in MATLAB axis order)."""
    try:
        data = scipy.io.loadmat(path, variable_names=names)
        out: dict[str, np.ndarray | str] = {}
        for n in names:
            v = data[n]
            out[n] = str(v[0]) if v.dtype.kind == "U" and v.size else v
        return out
    except Exception as exc:
        if not _is_v73(exc):
            raise ImageryFileError(f"{path}: cannot read {names} ({exc})") from exc
    try:
        with h5py.File(path, "r") as f:
            out = {}
            for n in names:
                ds = f[n]
                arr = np.asarray(ds[()])
                cls = ds.attrs.get("MATLAB_class", b"")
                if (cls.decode() if isinstance(cls, bytes) else str(cls)) == "char":
                    out[n] = "".join(chr(c) for c in arr.ravel(order="F"))
                else:
                    out[n] = arr.T  # h5py sees MATLAB's column-major arrays transposed
            return out
    except Exception as exc:
        raise ImageryFileError(f"{path}: cannot read {names} ({exc})") from exc


def _image_kind(var: _MatVar) -> tuple[str, int | None] | None:
    """``("ms", band_axis)``, ``("pan", None)`` or None, from the shape alone."""
    if var.cls not in _NUMERIC:
        return None
    sh = var.shape
    if len(sh) == 2:
        return ("pan", None) if min(sh) >= _MIN_PAN_SIDE else None
    if len(sh) != 3:
        return None
    for axis, rest in ((2, sh[:2]), (0, sh[1:])):
        bands = sh[axis]
        if bands == 1 and min(rest) >= _MIN_PAN_SIDE:
            return "pan", axis
        if 2 <= bands < min(rest) and min(rest) >= _MIN_MS_SIDE:
            return "ms", axis
    return None


def _spatial(var: _MatVar, band_axis: int | None) -> tuple[int, int]:
    if band_axis is None:
        return var.shape[0], var.shape[1]
    rest = [s for i, s in enumerate(var.shape) if i != band_axis]
    return rest[0], rest[1]


def _pair_ratio(ms_hw: tuple[int, int], pan_hw: tuple[int, int]) -> int | None:
    (h, w), (hp, wp) = ms_hw, pan_hw
    if hp % h or wp % w or hp // h != wp // w:
        return None
    r = hp // h
    return r if 2 <= r <= _MAX_RATIO else None


def _rank(name: str, table: tuple[str, ...]) -> int:
    low = name.lower()
    return table.index(low) if low in table else len(table)


@dataclass(frozen=True)
class _Image:
    path: Path
    var: str
    band_axis: int | None
    hw: tuple[int, int]
    cls: str


def _as_chw(arr: np.ndarray, band_axis: int | None) -> torch.Tensor:
    a = np.asarray(arr, dtype=np.float32)
    if band_axis is None:
        a = a[None]
    elif band_axis == 2:
        a = a.transpose(2, 0, 1)
    return torch.from_numpy(np.ascontiguousarray(a))


def _max_value(arrays: list[np.ndarray], bits: int | None) -> float:
    if bits:
        return float(2**bits - 1)
    top = max(float(np.max(a)) for a in arrays)
    if all(np.issubdtype(np.asarray(a).dtype, np.integer) for a in arrays) and top > 0:
        return float(2 ** int(top).bit_length() - 1)
    return top


# --------------------------------------------------------------------------- sampling phase


def estimate_phase(
    ms: torch.Tensor,
    pan: torch.Tensor,
    ratio: int,
    gain_pan: float,
    max_side: int = 512,
) -> tuple[float, float]:
    """Sampling phase of an MS/PAN pair from its content, and the fit's R^2.

    Candidates from ``(ratio - 1) / 2 - ratio`` to ``(ratio - 1) / 2 + ratio`` in half-PAN-pixel
    steps; for each, the PAN (a central crop of at most ``max_side`` pixels) is blurred by its MTF
    and decimated at that phase, then regressed on the MS bands (least squares with an offset).
    The phase with the largest R^2 wins: on imgWV2 it is 1.5 (centred, the toolbox convention), on
    each Landsat-7 pair -0.5 (the data README's measurement).
    """
    h, w = ms.shape[-2:]
    side = max(4, min(max_side // ratio, h, w))
    y0, x0 = (h - side) // 2, (w - side) // 2
    ms_c = ms[:, y0 : y0 + side, x0 : x0 + side].double()
    # float32 for the blur (float64 convolutions are ~7x slower on CPU); the fit is float64
    pan_c = pan[:, y0 * ratio : (y0 + side) * ratio, x0 * ratio : (x0 + side) * ratio].float()
    m = min(ratio + 2, max(0, (side - 4) // 2))  # replicated-border margin (MS pixels)
    keep = (slice(m, side - m), slice(m, side - m))
    x = ms_c[:, keep[0], keep[1]].reshape(ms_c.shape[0], -1).T
    x = torch.cat([x, torch.ones(x.shape[0], 1, dtype=x.dtype)], dim=1)
    centre = centred_phase(ratio)
    best = (centre, -math.inf)
    for k in range(-2 * ratio, 2 * ratio + 1):
        phase = centre + 0.5 * k
        y = gaussian_decimate(pan_c, ratio, gain_pan, phase)[0][keep].reshape(-1, 1).double()
        sol = torch.linalg.lstsq(x, y).solution
        resid = y - x @ sol
        var = float(y.var())
        r2 = 1.0 - float(resid.var()) / var if var > 0 else -math.inf
        if r2 > best[1] + 1e-12:
            best = (phase, r2)
    return best


#: Below this R^2 the content does not pin the phase; the centred convention is used instead.
PHASE_MIN_R2 = 0.5


# --------------------------------------------------------------------------- scene discovery


@dataclass(frozen=True)
class SceneSource:
    """Where a pansharpening scene's MS and PAN live, found by :func:`discover_pan_scenes`."""

    name: str
    ms: _Image
    pan: _Image
    ratio: int
    layout: str  # "toolbox" (one file) or "pair" (FuseBox-style {n}_ms / {n}_pan files)
    sensor: str | None  # SENSOR_MTF key, None = unknown
    sensor_note: str  # where the sensor came from
    bits: int | None = None
    rgb: tuple[int, int, int] | None = None

    @property
    def files(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(str(p) for p in (self.ms.path, self.pan.path)))

    def load(self, phase_px: float | None = None) -> PanScene:
        """Read the arrays; ``phase_px=None`` estimates the phase (:func:`estimate_phase`)."""
        if self.ms.path == self.pan.path:
            d = _read_variables(self.ms.path, [self.ms.var, self.pan.var])
            ms_arr, pan_arr = d[self.ms.var], d[self.pan.var]
        else:
            ms_arr = _read_variables(self.ms.path, [self.ms.var])[self.ms.var]
            pan_arr = _read_variables(self.pan.path, [self.pan.var])[self.pan.var]
        for img, arr in ((self.ms, ms_arr), (self.pan, pan_arr)):
            a = np.asarray(arr)
            if a.dtype.kind == "f" and not np.isfinite(a).all():
                raise ImageryFileError(f"{img.path}: {img.var} holds NaN or infinite values")
        ms = _as_chw(ms_arr, self.ms.band_axis)
        pan = _as_chw(pan_arr, self.pan.band_axis)
        _check_pair(self.pan.path, ms, pan, self.ratio)
        gains_ms, gain_pan, how = sensor_gains(self.sensor, ms.shape[0])
        if phase_px is None:
            phase, r2 = estimate_phase(ms, pan, self.ratio, gain_pan)
            if r2 >= PHASE_MIN_R2:
                phase_note = f"estimated from content (R^2 {r2:.3f})"
            else:
                phase = centred_phase(self.ratio)
                phase_note = f"centred: content fit too weak to estimate (R^2 {r2:.3f})"
        else:
            phase, phase_note = float(phase_px), "given"
        n = ms.shape[0]
        rgb = self.rgb if self.rgb and max(self.rgb) < n else ((0, 1, 2) if n >= 3 else (0,) * 3)
        return PanScene(
            name=self.name,
            ms=ms,
            pan=pan,
            ratio=self.ratio,
            mtf_ms=tuple(gains_ms),
            mtf_pan=gain_pan,
            phase_px=phase,
            max_value=_max_value([np.asarray(ms_arr), np.asarray(pan_arr)], self.bits),
            rgb_bands=rgb,  # type: ignore[arg-type]
            sensor=self.sensor or "unknown",
            notes=(
                f"layout {self.layout}",
                self.sensor_note,
                f"MTF: {how}",
                f"phase: {phase_note}",
            ),
        )


@dataclass
class Discovery:
    """What :func:`discover_pan_scenes` found: scenes, files it could not use, files skipped."""

    scenes: list[SceneSource] = field(default_factory=list)
    errors: list[ImageryFileError] = field(default_factory=list)
    skipped: list[tuple[Path, str]] = field(default_factory=list)


@dataclass
class _FileInfo:
    path: Path
    ms: list[_Image]
    pan: list[_Image]
    n_arrays: int  # numeric arrays with at least two sides of 4 or more (images or not)
    sensor_text: str | None
    ratio_var: int | None
    bits: int | None
    rgb: tuple[int, int, int] | None


def _file_info(path: Path) -> _FileInfo:
    variables = _mat_variables(path)
    ms, pan = [], []
    texts = [v.name for v in variables if v.cls == "char"]
    scalars = {
        v.name.lower(): v.name for v in variables if v.cls in _NUMERIC and math.prod(v.shape) == 1
    }
    for v in variables:
        kind = _image_kind(v)
        if kind is not None:
            img = _Image(path, v.name, kind[1], _spatial(v, kind[1]), v.cls)
            (ms if kind[0] == "ms" else pan).append(img)
    want = texts + [scalars[k] for k in ("ratio", "l") if k in scalars]
    rgb_var = next((v.name for v in variables if v.name.lower() == "rgb_indexes"), None)
    if rgb_var:
        want.append(rgb_var)
    values = _read_variables(path, want) if want else {}
    sensor_text = None
    for name in sorted(texts, key=lambda n: _rank(n, _SENSOR_VARS)):
        value = values[name]
        text = value.strip() if isinstance(value, str) else ""
        if text and (name.lower() in _SENSOR_VARS or sensor_code(text)):
            sensor_text = text
            break
    ratio_var = int(np.asarray(values[scalars["ratio"]]).ravel()[0]) if "ratio" in scalars else None
    bits = int(np.asarray(values[scalars["l"]]).ravel()[0]) if "l" in scalars else None
    rgb = None
    if rgb_var:
        idx = [int(i) - 1 for i in np.asarray(values[rgb_var]).ravel()]
        rgb = tuple(idx) if len(idx) == 3 and min(idx) >= 0 else None  # type: ignore[assignment]
    n_arrays = sum(
        1 for v in variables if v.cls in _NUMERIC and sum(s >= _MIN_MS_SIDE for s in v.shape) >= 2
    )
    return _FileInfo(path, ms, pan, n_arrays, sensor_text, ratio_var, bits, rgb)  # type: ignore[arg-type]


def _resolve_sensor(texts: list[str | None], fallback: str | None) -> tuple[str | None, str]:
    named = [t for t in texts if t]
    for text in named:
        code = sensor_code(text)
        if code:
            return code, f"sensor {code} named in the file ({text!r})"
    fb = sensor_code(fallback) if fallback else None
    if named:
        if fb:
            return fb, f"file names {named[0]!r} (not in the MTF table); --sensor {fb} used"
        return None, f"file names {named[0]!r} (not in the MTF table): generic gains"
    if fb:
        return fb, f"sensor {fb} from --sensor"
    return None, "no sensor in the file and no --sensor: generic gains"


def _toolbox_source(info: _FileInfo, sensor: str | None, name: str) -> SceneSource:
    pairs = []
    for m in info.ms:
        for p in info.pan:
            r = _pair_ratio(m.hw, p.hw)
            if r is not None:
                pairs.append((_rank(m.var, _MS_NAMES), _rank(p.var, _PAN_NAMES), m, p, r))
    if not pairs:
        raise LookupError("no MS/PAN pair")
    pairs.sort(key=lambda t: (t[0], t[1]))
    if len(pairs) > 1 and pairs[0][:2] == pairs[1][:2]:
        found = ", ".join(f"{m.var}/{p.var} (ratio {r})" for _, _, m, p, r in pairs)
        raise ImageryFileError(f"{info.path}: ambiguous MS/PAN pairs: {found}")
    _, _, m, p, r = pairs[0]
    if info.ratio_var is not None and info.ratio_var != r:
        raise ImageryFileError(
            f"{info.path}: variable ratio = {info.ratio_var}, but PAN {p.var} {p.hw} is "
            f"{r} x MS {m.var} {m.hw}"
        )
    code, note = _resolve_sensor([info.sensor_text], sensor)
    return SceneSource(name, m, p, r, "toolbox", code, note, info.bits, info.rgb)


def discover_pan_scenes(folder: str | Path, sensor: str | None = None) -> Discovery:
    """Find every pansharpening scene under ``folder`` (recursively) by what the files hold.

    * **toolbox-style**: one ``.mat`` file with a 3-D MS array ``(h, w, C)`` (``C`` smaller
      than both sides; band-first ``(C, h, w)`` also accepted) and a 2-D PAN ``(r h, r w)`` with
      an integer ratio ``r`` in 2..32; variable names only break ties between several such pairs
      (``I_MS_LR``, ``MS``, ``I_PAN``, ``PAN``, ...); a scalar ``ratio`` variable must agree;
    * **FuseBox-style pairs**: ``{n}_ms.mat`` holding one MS array and ``{n}_pan.mat`` holding
      one PAN array of ``r`` times its size.

    The sensor is the one a text variable names (``sensor``, ``satellite``, ... or any text that
    is a known sensor name), else ``sensor`` (the bench's ``--sensor``), else unknown (generic
    gains).  Files that cannot be read or that look like a scene but are not a consistent one
    (ambiguous pairs, ratio mismatch, a half without its partner) go to ``errors`` as
    :class:`ImageryFileError` naming the file; other ``.mat`` files (spectral responses,
    hyperspectral cubes) go to ``skipped`` with the reason.  Nothing is loaded beyond variable
    headers and small text/scalar variables.
    """
    folder = Path(folder)
    out = Discovery()
    if not folder.is_dir():
        out.errors.append(ImageryFileError(f"{folder}: data folder not found"))
        return out
    if sensor is not None and sensor_code(sensor) is None:
        raise ValueError(f"unknown sensor {sensor!r}; known: {', '.join(SENSOR_MTF)}")
    paths = sorted(p for p in folder.rglob("*") if p.suffix.lower() == ".mat" and p.is_file())
    halves: dict[tuple[Path, str], dict[str, _FileInfo]] = {}
    found: list[tuple[str, SceneSource]] = []
    for path in paths:
        try:
            info = _file_info(path)
        except ImageryFileError as exc:
            out.errors.append(exc)
            continue
        half = _HALF_RE.match(path.stem)
        if half and len(info.ms) + len(info.pan) == 1 and info.n_arrays == 1:
            halves.setdefault((path.parent, half["stem"]), {})[half["kind"].lower()] = info
            continue
        try:
            found.append((path.stem, _toolbox_source(info, sensor, path.stem)))
        except ImageryFileError as exc:
            out.errors.append(exc)
        except LookupError:
            what = f"{len(info.ms)} MS-like and {len(info.pan)} PAN-like arrays"
            out.skipped.append((path, f"no MS/PAN pair with an integer ratio ({what})"))
    for (_, stem), parts in sorted(halves.items(), key=lambda kv: str(kv[0])):
        ms_info, pan_info = parts.get("ms"), parts.get("pan")
        if ms_info is None or pan_info is None:
            only = ms_info or pan_info
            assert only is not None
            missing = "pan" if ms_info else "ms"
            out.errors.append(
                ImageryFileError(f"{only.path}: no partner file {stem}_{missing}.mat beside it")
            )
            continue
        if not ms_info.ms or not pan_info.pan:
            bad = ms_info if not ms_info.ms else pan_info
            kind = "an MS (h, w, bands) array" if not ms_info.ms else "a 2-D PAN array"
            out.errors.append(ImageryFileError(f"{bad.path}: does not hold {kind}"))
            continue
        m, p = ms_info.ms[0], pan_info.pan[0]
        r = _pair_ratio(m.hw, p.hw)
        if r is None:
            out.errors.append(
                ImageryFileError(
                    f"{pan_info.path}: PAN {p.hw} is not an integer ratio (2..{_MAX_RATIO}) "
                    f"x MS {m.hw} of {ms_info.path.name}"
                )
            )
            continue
        code, note = _resolve_sensor([ms_info.sensor_text, pan_info.sensor_text], sensor)
        bits = ms_info.bits or pan_info.bits
        found.append((stem, SceneSource(stem, m, p, r, "pair", code, note, bits, ms_info.rgb)))
    counts: dict[str, int] = {}
    for stem, _ in found:
        counts[stem] = counts.get(stem, 0) + 1
    for stem, src in sorted(found, key=lambda t: (t[0], str(t[1].ms.path))):
        if counts[stem] > 1:
            rel = src.ms.path.relative_to(folder).with_suffix("").as_posix()
            src = replace(src, name=rel.replace("/", "_"))
        out.scenes.append(src)
    return out


def load_toolbox_mat(
    path: str | Path, sensor: str | None = None, phase_px: float | None = None
) -> PanScene:
    """Read one toolbox-style ``.mat`` scene (MS and PAN found by content, see
    :func:`discover_pan_scenes`); gains from the sensor the file names, else ``sensor``, else
    generic; ``phase_px=None`` keeps the toolbox convention (centred)."""
    path = Path(path)
    if not path.is_file():
        raise ImageryFileError(f"{path}: file not found")
    info = _file_info(path)
    try:
        src = _toolbox_source(info, sensor, path.stem)
    except LookupError as exc:
        raise ImageryFileError(
            f"{path}: no MS/PAN pair ({len(info.ms)} MS-like, {len(info.pan)} PAN-like arrays)"
        ) from exc
    return src.load(centred_phase(src.ratio) if phase_px is None else phase_px)


def load_wv2(path: str | Path) -> PanScene:
    """Read ``imgWV2.mat`` (``I_MS`` 320x320x8, ``I_PAN`` 1280x1280, ``ratio``, ``L`` bits).

    A toolbox-style reader: gains follow the sensor the file names (``sensor = 'WV2'`` here),
    so another sensor's file gets its own MS and PAN gains; the phase is centred.
    """
    return load_toolbox_mat(path)


def load_landsat7(folder: str | Path, k: int) -> PanScene:
    """Read the Landsat-7 pair ``landsat7_{k}_ms.mat`` / ``landsat7_{k}_pan.mat`` (ratio 2)."""
    folder = Path(folder)
    ms_path = folder / f"landsat7_{k}_ms.mat"
    pan_path = folder / f"landsat7_{k}_pan.mat"
    ms = _hwc_to_chw(_load_mat(ms_path, ("cropped_im",))["cropped_im"])
    pan = _hwc_to_chw(_load_mat(pan_path, ("cropped_gray",))["cropped_gray"])
    _check_pair(pan_path, ms, pan, 2)
    gains, gain_pan, how = sensor_gains("L7", ms.shape[0])
    return PanScene(
        name=f"landsat7_{k}",
        ms=ms,
        pan=pan,
        ratio=2,
        mtf_ms=gains,
        mtf_pan=gain_pan,
        phase_px=LANDSAT7_PHASE_PX,
        max_value=255.0,
        rgb_bands=(0, 1, 2),
        sensor="L7",
        notes=("layout pair", f"MTF: {how}", "phase: measured (data README)"),
    )


def load_paris(path: str | Path) -> HsScene:
    """Read ``paris_data_hs_ms.mat``: Hyperion ``HSim`` 72x72x128 and ALI ``MSim`` 72x72x9."""
    path = Path(path)
    d = _load_mat(path, ("HSim", "MSim"))
    hs, ms = _hwc_to_chw(d["HSim"]), _hwc_to_chw(d["MSim"])
    if hs.shape[-2:] != ms.shape[-2:]:
        raise ImageryFileError(f"{path}: HSim {tuple(hs.shape)} and MSim {tuple(ms.shape)} differ")
    bands = np.asarray(d.get("non_del_bands", np.zeros((1, 0)))).ravel().astype(int)
    return HsScene(name=path.stem, hs=hs, guide=ms, extras={"hyperion_bands": bands})


def load_samson(path: str | Path) -> HsScene:
    """Read ``Samson.mat``: ``Y`` 156 x 9025 (reflectance, column-major 95 x 95 pixels)."""
    path = Path(path)
    d = _load_mat(path, ("Y",))
    y = np.asarray(d["Y"], dtype=np.float32)
    side = int(round(np.sqrt(y.shape[1])))
    if side * side != y.shape[1]:
        raise ImageryFileError(f"{path}: Y has {y.shape[1]} pixels, not a square scene")
    cube = y.reshape(y.shape[0], side, side, order="F")
    wl = SAMSON_WAVELENGTHS_NM if y.shape[0] == 156 else None
    extras = {k: d[k] for k in ("GT", "S_GT") if k in d}
    return HsScene(
        name=path.stem,
        hs=torch.from_numpy(np.ascontiguousarray(cube)),
        wavelengths_nm=wl,
        extras=extras,
    )


def load_camera_database(path: str | Path) -> tuple[torch.Tensor, np.ndarray]:
    """Read ``camera_csr_52.mat``: returns responses ``(n_cameras, 3, 31)`` and wavelengths (nm)."""
    path = Path(path)
    r = np.asarray(_load_mat(path, ("R",))["R"], dtype=np.float32)
    if r.ndim != 3 or r.shape[0] != 3:
        raise ImageryFileError(f"{path}: R has shape {r.shape}, expected (3, n_wavelengths, n_cam)")
    return torch.from_numpy(
        np.ascontiguousarray(r.transpose(2, 0, 1))
    ), CAMERA_WAVELENGTHS_NM.copy()


def resample_response(
    response: torch.Tensor, src_nm: np.ndarray, dst_nm: np.ndarray
) -> torch.Tensor:
    """Linearly resample spectral responses ``(..., n_src)`` onto ``dst_nm`` (zero outside)."""
    flat = response.reshape(-1, response.shape[-1]).double().numpy()
    out = np.stack([np.interp(dst_nm, src_nm, row, left=0.0, right=0.0) for row in flat])
    return torch.from_numpy(out.reshape(*response.shape[:-1], len(dst_nm))).float()
