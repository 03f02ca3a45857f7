"""The one exception type a user sees: a message that says what went wrong and what to do next."""


class MeekError(Exception):
    """An error caused by input or environment, shown to the user as one line without a traceback."""
