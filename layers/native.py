"""Cross-build loglake's C extension (``loglake/_linehead.c``) for a Lambda architecture, without Docker.

Zig's C compiler (the ``ziglang`` wheel from PyPI, in the ``cdk`` extra) targets ``aarch64-linux-gnu`` and
``x86_64-linux-gnu`` from any host, against glibc 2.28 (Lambda's Python 3.12+ runtimes run Amazon Linux 2023,
glibc 2.34). The extension uses the limited API of Python 3.11, so the headers of the Python running the build
serve every runtime from 3.11 on, and the file is named ``_linehead.abi3.so``: every CPython 3 on Linux loads
that name. The build checks the result's ELF machine before it is shipped.

Example
-------
>>> build_extension(Path("loglake/_linehead.c"), Path("/tmp/x/_linehead.abi3.so"), "arm64")  # doctest: +SKIP
"""

from __future__ import annotations

import subprocess
import sys
import sysconfig
from pathlib import Path
from typing import Final

from loglake.errors import LoglakeError

#: Zig's target triple per Lambda architecture.
TARGETS: Final = {"arm64": "aarch64-linux-gnu.2.28", "x86_64": "x86_64-linux-gnu.2.28"}
#: ELF ``e_machine`` of each architecture.
ELF_MACHINES: Final = {"arm64": 183, "x86_64": 62}
#: The suffix CPython loads for a limited-API extension on Linux.
ABI3_SUFFIX: Final = ".abi3.so"


class NativeBuildError(LoglakeError):
    """The extension could not be built for Lambda; the message says what failed and what to do."""


def elf_machine(path: Path) -> int | None:
    """The ELF ``e_machine`` of a file, or None if it is not an ELF file."""
    with path.open("rb") as fh:
        header = fh.read(20)
    if len(header) < 20 or header[:4] != b"\x7fELF":
        return None
    return int.from_bytes(header[18:20], "little" if header[5] == 1 else "big")


def compile_command(source: Path, output: Path, architecture: str) -> list[str]:
    """The ``zig cc`` command line that builds ``source`` into ``output`` for ``architecture``."""
    if architecture not in TARGETS:
        raise NativeBuildError(f"architecture {architecture!r} is not one of {', '.join(TARGETS)}")
    include = sysconfig.get_paths()["include"]
    return [
        sys.executable,
        "-m",
        "ziglang",
        "cc",
        "-target",
        TARGETS[architecture],
        "-O3",
        "-shared",
        "-fPIC",
        "-s",
        f"-I{include}",
        str(source),
        "-o",
        str(output),
    ]


def build_extension(source: Path, output: Path, architecture: str) -> Path:
    """Compile ``source`` (a limited-API C extension) into ``output`` for ``architecture``; return ``output``.

    Raises
    ------
    NativeBuildError
        If zig is not installed, the compiler fails, or the result is not built for ``architecture``.
    """
    command = compile_command(source, output, architecture)
    output.parent.mkdir(parents=True, exist_ok=True)
    try:
        result = subprocess.run(command, capture_output=True, text=True, check=False, timeout=600)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise NativeBuildError(f"could not run zig to build {source.name} for {architecture}: {exc}") from exc
    if result.returncode != 0:
        hint = (
            "install it with `pip install -e '.[cdk]'` (it brings the ziglang wheel)"
            if "No module named ziglang" in result.stderr
            else "the compiler's message is above"
        )
        raise NativeBuildError(
            f"building {source.name} for {architecture} failed (exit {result.returncode}):\n"
            f"{result.stderr.strip()[-2000:]}\n{hint}"
        )
    machine = elf_machine(output) if output.is_file() else None
    if machine != ELF_MACHINES[architecture]:
        raise NativeBuildError(
            f"{output} is built for ELF machine {machine}, not {architecture} ({ELF_MACHINES[architecture]})"
        )
    return output
