"""The errors a user sees, each as one line without a traceback, and the exit code each one means.

Exit codes, the same for every command: 0 done; 1 a run or a check failed (MeekError); 2 a usage error: a bad value, an
unknown model, task or machine class, a path that is not there (UsageError, and Typer's own option errors); 130
interrupted (Ctrl-C).
"""

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


class MeekError(Exception):
    """Something failed (a run, a download, a check), shown to the user as one line; exit code 1."""

    exit_code = EXIT_FAILED


class UsageError(MeekError):
    """The user asked for something that cannot be: a bad option value, an unknown name, a missing path; exit code 2."""

    exit_code = EXIT_USAGE


def require_existing(paths, hint: str = "") -> None:
    """Stop with one line naming every path the user gave that is not there (a dangling link is there: it gets reported)."""
    missing = [str(p) for p in paths if not (p.exists() or p.is_symlink())]
    if missing:
        raise UsageError(f"no such file or folder: {', '.join(missing)}{hint}")
