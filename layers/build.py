"""Build the pipeline's two Lambda layers as plain folders, without Docker.

``lambda.Code.from_asset(folder)`` zips each folder at deploy time; nothing here needs Docker or AWS.

*Code layer* — a copy of the ``loglake/`` package under ``python/loglake/``, so every function imports the
same code, shipped once, with its C extension cross-built for the function's architecture by zig
(``layers/native.py``; the extension built for this machine is never shipped). It is rebuilt on every synth
(a few milliseconds; the extension is compiled again only when the code changes) into a folder named after a
hash of its content and architecture, so a build never exposes a half-written folder and unchanged code keeps
its asset hash.

*Dependencies layer* — the pinned wheels of ``layers/requirements.txt`` (pyarrow, orjson, Powertools)
installed with ``pip install --platform manylinux_2_28_<arch> --only-binary=:all: --target …`` for the
function's architecture and Python version. Built once per (requirements, architecture, Python version) and
cached under ``build/layers/``: the first build downloads from PyPI, every later synth is offline. The build
checks that pip installed exactly the pinned distributions and that every native library is built for the
target architecture, then drops files Lambda never loads (headers, Cython sources, pyarrow's own tests).

Run ``python -m layers --architecture arm64 --python-version 3.14`` (``make layers``) to pre-build.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import shutil
import subprocess
import sys
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from layers.native import ELF_MACHINES, NativeBuildError, build_extension, elf_machine
from loglake.errors import LoglakeError

PROJECT_ROOT: Final = Path(__file__).resolve().parents[1]
BUILD_ROOT: Final = PROJECT_ROOT / "build" / "layers"
REQUIREMENTS: Final = Path(__file__).resolve().with_name("requirements.txt")
LOGLAKE_SOURCE: Final = PROJECT_ROOT / "loglake"

#: pip platform tags per Lambda architecture. Lambda's Python 3.12+ runtimes run on Amazon Linux 2023
#: (glibc 2.34), so manylinux_2_28 wheels load; manylinux2014 covers packages that publish only those.
PLATFORMS: Final = {
    "arm64": ("manylinux_2_28_aarch64", "manylinux2014_aarch64"),
    "x86_64": ("manylinux_2_28_x86_64", "manylinux2014_x86_64"),
}
#: Bump when the build's output changes for the same inputs (a new trim rule, say).
BUILDER_VERSION: Final = "2"
#: Paths (relative to ``python/``) Lambda never loads: C++ headers and sources, Cython sources, test suites.
_TRIM_DIRS: Final = ("bin", "pyarrow/include", "pyarrow/includes", "pyarrow/src", "pyarrow/tests")
_TRIM_SUFFIXES: Final = (".pyx", ".pxd", ".pxi", ".pyc")
_REQUIREMENT_RE: Final = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([A-Za-z0-9.+!-]+)$")


class LayerBuildError(LoglakeError):
    """A layer could not be built; the message says what failed and what to do."""


@dataclass(frozen=True)
class LayerDirs:
    """The folders of the two layers, ready for ``lambda.Code.from_asset``."""

    code: Path
    dependencies: Path


def build_layers(*, architecture: str, python_version: str, build_root: Path = BUILD_ROOT) -> LayerDirs:
    """Build (or reuse) both layers for one architecture and Python version.

    Example
    -------
    >>> dirs = build_layers(architecture="arm64", python_version="3.14")  # doctest: +SKIP
    >>> (dirs.code / "python" / "loglake" / "schema.py").is_file()  # doctest: +SKIP
    True
    """
    return LayerDirs(
        code=build_code_layer(architecture=architecture, build_root=build_root),
        dependencies=build_dependencies_layer(
            architecture=architecture, python_version=python_version, build_root=build_root
        ),
    )


# --------------------------------------------------------------------------- code layer


def _source_files(source: Path) -> list[Path]:
    """The package's files, without caches and without native builds for this machine."""
    return sorted(
        p
        for p in source.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and p.suffix not in (".pyc", ".pyo", ".so")
    )


def build_code_layer(*, architecture: str, source: Path = LOGLAKE_SOURCE, build_root: Path = BUILD_ROOT) -> Path:
    """Copy the ``loglake`` package into ``<folder>/python/loglake``, build each C extension of its top level
    (``name.c`` → ``name.abi3.so``) for ``architecture`` in place of its source, and return the folder."""
    if architecture not in PLATFORMS:
        raise LayerBuildError(f"architecture {architecture!r} is not one of {', '.join(PLATFORMS)}")
    files = _source_files(source)
    if not any(p.suffix == ".py" for p in files):
        raise LayerBuildError(f"{source} holds no Python module; the code layer ships the loglake package")
    digest = hashlib.sha256(f"{BUILDER_VERSION}\0{architecture}\0".encode())
    for path in files:
        digest.update(path.relative_to(source).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    prefix = f"loglake-code-{architecture}-"
    target = build_root / f"{prefix}{digest.hexdigest()[:16]}"
    if not target.is_dir():
        tmp = _scratch(build_root)
        package = tmp / "python" / source.name
        try:
            for path in files:
                relative = path.relative_to(source)
                if path.suffix == ".c" and len(relative.parts) == 1:
                    build_extension(path, package / f"{path.stem}.abi3.so", architecture)
                    continue
                dest = package / relative
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(path, dest)
        except NativeBuildError as exc:
            shutil.rmtree(tmp, ignore_errors=True)
            raise LayerBuildError(str(exc)) from exc
        _publish(tmp, target)
    _prune(build_root, prefix, keep=target)
    return target


# --------------------------------------------------------------------------- dependencies layer


def pinned_requirements(requirements: Path = REQUIREMENTS) -> dict[str, str]:
    """Normalised distribution name → pinned version, from a ``name==version`` requirements file."""
    pins: dict[str, str] = {}
    for number, line in enumerate(requirements.read_text().splitlines(), start=1):
        text = line.split("#", 1)[0].strip()
        if not text:
            continue
        match = _REQUIREMENT_RE.match(text)
        if not match:
            raise LayerBuildError(
                f"{requirements}:{number}: {text!r} is not pinned as name==version; pin every package exactly"
            )
        pins[_normalise(match.group(1))] = match.group(2)
    return pins


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def dependencies_layer_name(*, architecture: str, python_version: str, requirements: Path = REQUIREMENTS) -> str:
    """The cache folder name: architecture, Python version and a hash of everything the build depends on."""
    _check_target(architecture, python_version)
    key = hashlib.sha256(
        "\0".join((BUILDER_VERSION, architecture, python_version, requirements.read_text())).encode()
    ).hexdigest()[:16]
    return f"deps-{architecture}-py{python_version.replace('.', '')}-{key}"


def pip_command(
    *, architecture: str, python_version: str, target: Path, requirements: Path = REQUIREMENTS
) -> list[str]:
    """The ``pip install`` that fetches wheels for Lambda's platform instead of this machine's."""
    _check_target(architecture, python_version)
    cp = "cp" + python_version.replace(".", "")
    cmd = [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-compile"]
    cmd += ["--only-binary=:all:", "--implementation", "cp", "--python-version", python_version]
    cmd += ["--abi", cp, "--abi", "abi3", "--abi", "none"]
    for platform in PLATFORMS[architecture]:
        cmd += ["--platform", platform]
    cmd += ["--target", str(target), "--requirement", str(requirements)]
    return cmd


def build_dependencies_layer(
    *,
    architecture: str,
    python_version: str,
    build_root: Path = BUILD_ROOT,
    requirements: Path = REQUIREMENTS,
) -> Path:
    """Install the pinned wheels for Lambda into ``<folder>/python`` (or reuse the cached folder)."""
    target = build_root / dependencies_layer_name(
        architecture=architecture, python_version=python_version, requirements=requirements
    )
    if target.is_dir():
        return target
    pins = pinned_requirements(requirements)
    tmp = _scratch(build_root)
    site = tmp / "python"
    cmd = pip_command(architecture=architecture, python_version=python_version, target=site, requirements=requirements)
    result = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        shutil.rmtree(tmp, ignore_errors=True)
        raise LayerBuildError(
            f"pip could not fetch the {architecture}/Python {python_version} wheels of {requirements.name} "
            f"(exit {result.returncode}); the first build needs PyPI, later ones use the cache in "
            f"{build_root}.\n"
            f"{result.stderr.strip()[-2000:]}"
        )
    try:
        _check_installed(site, pins)
        _trim(site)
        _check_architecture(site, architecture)
    except LayerBuildError:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    _publish(tmp, target)
    return target


def _check_installed(site: Path, pins: dict[str, str]) -> None:
    installed: dict[str, str] = {}
    for meta in site.glob("*.dist-info/METADATA"):
        fields = dict(
            line.split(": ", 1) for line in meta.read_text(errors="replace").splitlines()[:20] if ": " in line
        )
        installed[_normalise(fields.get("Name", ""))] = fields.get("Version", "")
    if installed != pins:
        extra = sorted(set(installed) - set(pins))
        missing = sorted(set(pins) - set(installed))
        changed = sorted(k for k in set(pins) & set(installed) if pins[k] != installed[k])
        raise LayerBuildError(
            "the dependency layer does not hold exactly the pinned packages: "
            f"unpinned {extra}, missing {missing}, other versions {changed}; pin them in {REQUIREMENTS.name}"
        )


def _trim(site: Path) -> None:
    for rel in _TRIM_DIRS:
        shutil.rmtree(site / rel, ignore_errors=True)
    for path in list(site.rglob("*")):
        if path.is_dir() and path.name == "__pycache__":
            shutil.rmtree(path, ignore_errors=True)
        elif path.is_file() and path.suffix in _TRIM_SUFFIXES:
            path.unlink()


def _check_architecture(site: Path, architecture: str) -> None:
    expected = ELF_MACHINES[architecture]
    native = 0
    for path in site.rglob("*.so*"):
        machine = elf_machine(path) if path.is_file() else None
        if machine is None:
            continue
        if machine != expected:
            raise LayerBuildError(
                f"{path.relative_to(site)} is built for ELF machine {machine}, not {architecture} "
                f"({expected}); a wheel for the wrong platform was installed"
            )
        native += 1
    if native == 0:
        raise LayerBuildError(f"no native library found in {site}; pyarrow and orjson should have brought some")


# --------------------------------------------------------------------------- shared


def _check_target(architecture: str, python_version: str) -> None:
    if architecture not in PLATFORMS:
        raise LayerBuildError(f"architecture {architecture!r} is not one of {', '.join(PLATFORMS)}")
    if not re.fullmatch(r"3\.\d{1,2}", python_version):
        raise LayerBuildError(f"python_version {python_version!r} is not like '3.14'")


def _scratch(build_root: Path) -> Path:
    build_root.mkdir(parents=True, exist_ok=True)
    tmp = build_root / f".tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    return tmp


def _publish(tmp: Path, target: Path) -> None:
    """Move a finished build into place atomically; a concurrent identical build may have won the race."""
    try:
        tmp.rename(target)
    except OSError:
        if not target.is_dir():
            raise
        shutil.rmtree(tmp, ignore_errors=True)


def _prune(build_root: Path, prefix: str, *, keep: Path) -> None:
    for old in build_root.glob(f"{prefix}*"):
        if old != keep and old.is_dir():
            shutil.rmtree(old, ignore_errors=True)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m layers``: build both layers and print their folders."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--architecture", choices=sorted(PLATFORMS), default="arm64")
    parser.add_argument("--python-version", default="3.14")
    args = parser.parse_args(argv)
    dirs = build_layers(architecture=args.architecture, python_version=args.python_version)
    print(f"code layer:         {dirs.code}")
    print(f"dependencies layer: {dirs.dependencies}")
    return 0
