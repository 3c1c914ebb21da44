"""Errors point2act reports to users as one paragraph (no traceback unless debugging)."""


class Point2ActError(Exception):
    """An input or configuration problem; the message names the file and the entry."""
