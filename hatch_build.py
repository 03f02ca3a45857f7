"""Build hook: pack the record (results/) into the wheel as harness/data/record-snapshot.tar.xz, so an installed meek
answers compare and advise without a clone (harness/record/snapshot.py, loaded by path: the build environment has only
hatchling, not meek-harness's dependencies)."""

from __future__ import annotations

import importlib.util
import sys
import tempfile
from pathlib import Path

from hatchling.builders.hooks.plugin.interface import BuildHookInterface


class RecordSnapshotHook(BuildHookInterface):
    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict) -> None:
        results = Path(self.root) / "results"
        if self.target_name != "wheel" or version == "editable" or not results.is_dir():
            return  # an editable install reads the clone's results/ itself
        spec = importlib.util.spec_from_file_location("meek_record_snapshot", Path(self.root) / "harness/record/snapshot.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module  # dataclasses look their module up
        spec.loader.exec_module(module)
        out = Path(tempfile.mkdtemp(prefix="meek-build-")) / module.NAME
        files = module.pack(results, out, source=f"results/ of meek-harness {self.metadata.version}")
        self.app.display_info(f"record snapshot: {files} result file(s) packed into harness/data/{module.NAME}")
        build_data["force_include"][str(out)] = f"harness/data/{module.NAME}"
