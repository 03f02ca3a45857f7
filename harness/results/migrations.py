"""Older result documents to the current schema: one function per version step, over plain JSON documents (the
validator migrates in memory; `meek results upgrade` rewrites files)."""

from __future__ import annotations


def migrate_1_to_2(document: dict) -> dict:
    """Schema 2 added content_sha256, the llama-bench backend for imports and an unknown memory size; v1 files lack the hash."""
    return {**document, "schema_version": 2}


def migrate_2_to_3(document: dict) -> dict:
    """Schema 3 added summary-only runs (imported tables that publish mean ± sd, no raw samples) and a result's source;
    every version 2 file is a valid version 3 file."""
    return {**document, "schema_version": 3}


def migrate_3_to_4(document: dict) -> dict:
    """Schema 4 added serving points (N streams decoded together in process, or a server under load) beside the
    single-stream runs, and a split across RPC servers; a version 3 file has neither."""
    return {**document, "schema_version": 4, "serving": document.get("serving", [])}


def migrate_4_to_5(document: dict) -> dict:
    """Schema 5 added each run's other_cpu_share (the CPU other processes took while it was measured) and a busy
    machine as a reason in `unstable`; a version 4 file did not measure it, so its runs keep none (null)."""
    return {**document, "schema_version": 5}


def migrate_5_to_6(document: dict) -> dict:
    """Schema 6 added a server test's connect_ns (connections opened inside timed requests); a version 5 file did not
    record them, so its runs keep none (null)."""
    return {**document, "schema_version": 6}


def migrate_6_to_7(document: dict) -> dict:
    """Schema 7 added what a quant costs against a reference (`quality`, meek quality) and the largest context that
    runs (`fits`, meek fit); a version 6 file measured neither."""
    return {**document, "schema_version": 7}


# Older schema version -> function turning such a document into the next version.
MIGRATIONS = {1: migrate_1_to_2, 2: migrate_2_to_3, 3: migrate_3_to_4, 4: migrate_4_to_5, 5: migrate_5_to_6, 6: migrate_6_to_7}
