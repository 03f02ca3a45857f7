"""The site served live (`meek serve`): the pages `meek report` writes (harness/site/build.py `write_site`), written from
the record's Tree into a private folder of the service's own and served from there.

One builder thread owns the folder (made mode 0700 at startup, removed at shutdown). Woken by a page request or a stored
submission, it rebuilds only when the record changed (the RecordTree's `seen` state moved) and at most once every
`interval` seconds; each build goes into a new subfolder and only then becomes the one served (a pointer switched), so a
request never sees a half-written site; meanwhile the previous build is served. The first request waits for the first
build. A path is served only when it resolves to a regular file inside the current build: `..`, however spelt, is 404.
"""

from __future__ import annotations

import datetime as dt
import logging
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path

from harness.aggregate.tree import Tree
from harness.record.queries import RecordTree
from harness.site.build import write_site

log = logging.getLogger("harness.service")

EMPTY_RECORD = "No results yet: submit one with meek submit FILE --url http://<this service>/api/v1/results"
FIRST_BUILD_WAIT = 300.0  # seconds a request waits for the very first build (the shipped record takes about 10 s)
KEEP_BUILDS = 2  # the build served and the one before it (a request that began on it may still be reading a file)


class LiveSite:
    """The site's current build, rebuilt in the background when the record changes."""

    def __init__(
        self,
        record: RecordTree,
        answering: AbstractContextManager,
        where: str,
        interval: float = 10.0,
        frontier_benchmarks: tuple[str, ...] = ("mmlu", "gpqa_diamond"),
        clock: Callable[[], float] = time.monotonic,
    ):
        self.record = record
        self.answering = answering  # held while the Tree is read and copied: pandas frames are not for threads
        self.where = where  # the record's URL without its password
        self.interval = interval
        self.frontier_benchmarks = frontier_benchmarks
        self.clock = clock
        self.folder: Path | None = None
        self.current: Path | None = None  # the build served: switched only once a build is complete
        self.built_state: tuple[int, int | None] | None = None
        self.error: str | None = None  # why the first build failed, when it did
        self.builds: list[Path] = []
        self.number = 0
        self.wake = threading.Event()
        self.ready = threading.Event()  # set once the first build is done (or failed)
        self.stopping = threading.Event()
        self.thread: threading.Thread | None = None

    def start(self) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="meek-site-"))  # mode 0700: the service's own
        self.thread = threading.Thread(target=self._loop, name="meek-site", daemon=True)
        self.wake.set()
        self.thread.start()

    def stop(self) -> None:
        self.stopping.set()
        self.wake.set()
        if self.thread is not None:
            self.thread.join(timeout=120)  # a build in progress finishes first (write_site has no cancel)
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)
            self.folder = None

    def poke(self) -> None:
        """Ask for a look at the record (a page was asked for, or a result stored): cheap, never blocks."""
        self.wake.set()

    def build_folder(self) -> Path | None:
        """The current build, waiting for the first one; None when it could not be made (self.error says why)."""
        self.poke()
        self.ready.wait(FIRST_BUILD_WAIT)
        return self.current

    def file(self, relative: str) -> Path | None:
        """The file of the current build at `relative` (a URL path), or None when there is none inside it."""
        root = self.build_folder()
        if root is None:
            return None
        root = root.resolve()
        if "\x00" in relative:
            return None
        target = (root / (relative or "index.html")).resolve()
        if target.is_dir():
            target = target / "index.html"
        if not target.is_relative_to(root) or not target.is_file():
            return None
        return target

    def _loop(self) -> None:
        while not self.stopping.is_set():
            self.wake.wait()
            self.wake.clear()
            if self.stopping.is_set():
                break
            try:
                self._build_if_changed()
            except Exception as error:  # a build that fails leaves the previous one served
                log.exception("the site could not be built")
                if self.current is None:
                    self.error = f"the site could not be built: {error}"
            finally:
                self.ready.set()
            self.stopping.wait(self.interval)  # at most one build every `interval` seconds

    def _build_if_changed(self) -> None:
        with self.answering:
            tree = self.record.tree()
            state = self.record.seen
            if state == self.built_state and self.current is not None:
                return
            tree = Tree(tree.runs.copy(), tree.scores.copy(), list(tree.rejected), tree.serving.copy())
        assert self.folder is not None
        self.number += 1
        target = self.folder / f"build-{self.number}"
        built = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
        source = f"Served by meek serve from the record at {self.where}, {state[0]} results, built {built} UTC"
        started = self.clock()
        write_site(tree, target, self.frontier_benchmarks, source=source, empty=EMPTY_RECORD)
        self.current, self.built_state, self.error = target, state, None  # the switch: requests now read this build
        self.builds.append(target)
        for old in self.builds[:-KEEP_BUILDS]:
            shutil.rmtree(old, ignore_errors=True)
        self.builds = self.builds[-KEEP_BUILDS:]
        log.info("site rebuilt from %d results in %.1f s", state[0], self.clock() - started)
