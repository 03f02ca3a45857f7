"""The one exception type a user sees: a message that says what went wrong and what to do next."""


class MeekError(Exception):
    """An error caused by input or environment, shown to the user as one line without a traceback."""


def require_existing(paths, hint: str = "") -> None:
    """Stop with one line naming every path the user gave that is not there (a dangling link is there: it gets reported)."""
    missing = [str(p) for p in paths if not (p.exists() or p.is_symlink())]
    if missing:
        raise MeekError(f"no such file or folder: {', '.join(missing)}{hint}")
