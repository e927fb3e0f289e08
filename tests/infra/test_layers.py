"""The Lambda layers: a copy of loglake, and pinned wheels for the function's architecture (no Docker)."""

from __future__ import annotations

import base64
import gzip
import importlib.util
from pathlib import Path

import pytest

from layers.build import (
    ELF_MACHINES,
    LayerBuildError,
    _check_architecture,
    build_code_layer,
    build_dependencies_layer,
    dependencies_layer_name,
    pinned_requirements,
    pip_command,
)
from layers.native import NativeBuildError, build_extension, compile_command
from layers.native import elf_machine as _elf_machine
from loglake import linehead
from loglake.sampling import keep_below
from tests.conftest import SHARED_DATA


def test_pip_fetches_wheels_for_lambda_not_for_this_machine(tmp_path: Path) -> None:
    cmd = pip_command(architecture="arm64", python_version="3.14", target=tmp_path)
    joined = " ".join(cmd)
    assert "--only-binary=:all:" in cmd
    assert "--platform manylinux_2_28_aarch64" in joined and "x86_64" not in joined
    assert "--python-version 3.14" in joined and "--abi cp314" in joined
    assert f"--target {tmp_path}" in joined
    x86 = " ".join(pip_command(architecture="x86_64", python_version="3.12", target=tmp_path))
    assert "--platform manylinux_2_28_x86_64" in x86 and "aarch64" not in x86 and "--abi cp312" in x86


def test_unknown_architecture_is_refused(tmp_path: Path) -> None:
    with pytest.raises(LayerBuildError, match="architecture 'arm' is not one of"):
        pip_command(architecture="arm", python_version="3.14", target=tmp_path)


def test_every_requirement_is_pinned_exactly(tmp_path: Path) -> None:
    pins = pinned_requirements()
    assert {"pyarrow", "orjson", "aws-lambda-powertools"} <= set(pins)
    loose = tmp_path / "requirements.txt"
    loose.write_text("pyarrow>=20\n")
    with pytest.raises(LayerBuildError, match="is not pinned as name==version"):
        pinned_requirements(loose)


def test_cache_key_follows_architecture_python_and_requirements(tmp_path: Path) -> None:
    req = tmp_path / "requirements.txt"
    req.write_text("orjson==3.13.0\n")
    arm = dependencies_layer_name(architecture="arm64", python_version="3.14", requirements=req)
    assert arm != dependencies_layer_name(architecture="x86_64", python_version="3.14", requirements=req)
    assert arm != dependencies_layer_name(architecture="arm64", python_version="3.13", requirements=req)
    req.write_text("orjson==3.12.0\n")
    assert arm != dependencies_layer_name(architecture="arm64", python_version="3.14", requirements=req)


class TestCodeLayer:
    def _package(self, root: Path, body: str) -> Path:
        pkg = root / "src" / "loglake"
        (pkg / "__pycache__").mkdir(parents=True, exist_ok=True)
        (pkg / "__init__.py").write_text(body)
        (pkg / "py.typed").write_text("")
        (pkg / "__pycache__" / "x.cpython-311.pyc").write_bytes(b"junk")
        return pkg

    def test_is_a_plain_copy_of_the_package_under_python(self, tmp_path: Path) -> None:
        pkg = self._package(tmp_path, "X = 1\n")
        layer = build_code_layer(architecture="arm64", source=pkg, build_root=tmp_path / "build")
        shipped = sorted(p.relative_to(layer).as_posix() for p in layer.rglob("*") if p.is_file())
        assert shipped == ["python/loglake/__init__.py", "python/loglake/py.typed"]

    def test_same_code_same_folder_new_code_new_folder(self, tmp_path: Path) -> None:
        pkg = self._package(tmp_path, "X = 1\n")
        first = build_code_layer(architecture="arm64", source=pkg, build_root=tmp_path / "build")
        assert build_code_layer(architecture="arm64", source=pkg, build_root=tmp_path / "build") == first
        (pkg / "__init__.py").write_text("X = 2\n")
        second = build_code_layer(architecture="arm64", source=pkg, build_root=tmp_path / "build")
        assert second != first and not first.exists()
        assert (second / "python" / "loglake" / "__init__.py").read_text() == "X = 2\n"

    def test_native_builds_of_this_machine_are_not_shipped(self, tmp_path: Path) -> None:
        pkg = self._package(tmp_path, "X = 1\n")
        (pkg / "_fast.cpython-311-x86_64-linux-gnu.so").write_bytes(b"\x7fELF host build")
        layer = build_code_layer(architecture="arm64", source=pkg, build_root=tmp_path / "build")
        assert not list(layer.rglob("*.so"))

    def test_each_architecture_has_its_own_folder(self, tmp_path: Path) -> None:
        pkg = self._package(tmp_path, "X = 1\n")
        arm = build_code_layer(architecture="arm64", source=pkg, build_root=tmp_path / "build")
        x86 = build_code_layer(architecture="x86_64", source=pkg, build_root=tmp_path / "build")
        assert arm != x86 and arm.is_dir() and x86.is_dir()

    def test_a_c_file_that_does_not_compile_fails_the_build_and_says_why(self, tmp_path: Path) -> None:
        pkg = self._package(tmp_path, "X = 1\n")
        (pkg / "_broken.c").write_text("this is not C;\n")
        with pytest.raises(LayerBuildError, match=r"building _broken\.c for arm64 failed"):
            build_code_layer(architecture="arm64", source=pkg, build_root=tmp_path / "build")
        assert not list((tmp_path / "build").glob("loglake-code-*"))

    def test_the_real_package_ships_the_schema_and_its_extension_for_graviton(
        self, project_root: Path, tmp_path: Path
    ) -> None:
        layer = build_code_layer(architecture="arm64", build_root=tmp_path)
        shipped = layer / "python" / "loglake"
        assert (shipped / "schema.py").read_bytes() == (project_root / "loglake" / "schema.py").read_bytes()
        assert _elf_machine(shipped / "_linehead.abi3.so") == ELF_MACHINES["arm64"]
        assert [p.name for p in shipped.rglob("*.so")] == ["_linehead.abi3.so"]
        assert not (shipped / "_linehead.c").exists()


class TestNativeExtension:
    def test_zig_targets_lambda_glibc_for_each_architecture(self, tmp_path: Path) -> None:
        for arch, triple in (("arm64", "aarch64-linux-gnu.2.28"), ("x86_64", "x86_64-linux-gnu.2.28")):
            cmd = compile_command(Path("a.c"), tmp_path / "a.so", arch)
            assert cmd[1:4] == ["-m", "ziglang", "cc"] and cmd[cmd.index("-target") + 1] == triple
        with pytest.raises(NativeBuildError, match="'sparc' is not one of arm64, x86_64"):
            compile_command(Path("a.c"), tmp_path / "a.so", "sparc")

    def test_the_cross_built_extension_loads_and_agrees_with_the_reference(
        self, project_root: Path, tmp_path: Path
    ) -> None:
        # The x86_64 build is the one this machine can run: the same zig command line as arm64's, loaded here.
        built = build_extension(project_root / "loglake" / "_linehead.c", tmp_path / "_linehead.abi3.so", "x86_64")
        spec = importlib.util.spec_from_file_location("_linehead", built)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        sha = linehead._openssl_sha256()
        assert sha is not None
        module.set_sha256(*sha)
        log = SHARED_DATA / "logs" / "apache_combined_10k.log.gz"
        lines = gzip.decompress(log.read_bytes()).splitlines()[:500]
        threshold = keep_below(0.1)
        for line in lines:
            data = base64.b64encode(line).decode()
            answer = module.head(data, threshold)
            assert answer is not None and answer == linehead.py_head(data, threshold)


@pytest.fixture(scope="module")
def arm64_layer() -> Path:
    """The real, cached build (the first run downloads the pinned wheels from PyPI)."""
    return build_dependencies_layer(architecture="arm64", python_version="3.14")


class TestDependenciesLayer:
    def test_holds_the_pinned_packages_and_nothing_else(self, arm64_layer: Path) -> None:
        site = arm64_layer / "python"
        dists = {
            p.name.removesuffix(".dist-info").rsplit("-", 1)[0].lower().replace("_", "-")
            for p in site.glob("*.dist-info")
        }
        assert dists == set(pinned_requirements())

    def test_native_code_is_built_for_graviton(self, arm64_layer: Path) -> None:
        site = arm64_layer / "python"
        orjson = next(site.glob("orjson/orjson*.so"))
        libarrow = next(site.glob("pyarrow/libarrow.so*"))
        assert _elf_machine(orjson) == ELF_MACHINES["arm64"] == _elf_machine(libarrow)
        assert "cpython-314-aarch64" in next(site.glob("pyarrow/lib.cpython-*.so")).name

    def test_files_lambda_never_loads_are_trimmed(self, arm64_layer: Path) -> None:
        site = arm64_layer / "python"
        assert not (site / "pyarrow" / "include").exists() and not (site / "pyarrow" / "tests").exists()
        assert not list(site.rglob("*.pyx")) and not list(site.rglob("__pycache__"))
        size = sum(p.stat().st_size for p in site.rglob("*") if p.is_file())
        assert size < 200 * 1024 * 1024, "Lambda allows 250 MB unzipped for function and layers together"

    def test_a_wheel_for_another_architecture_is_caught(self, tmp_path: Path) -> None:
        fake = tmp_path / "libfake.so"
        fake.write_bytes(b"\x7fELF\x02\x01\x01" + bytes(11) + ELF_MACHINES["x86_64"].to_bytes(2, "little"))
        with pytest.raises(LayerBuildError, match=r"libfake\.so is built for ELF machine 62, not arm64"):
            _check_architecture(tmp_path, "arm64")
