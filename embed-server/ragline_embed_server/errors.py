"""TEI's error taxonomy: `{error, error_type}` bodies with one HTTP status per type (router/src/lib.rs)."""

from __future__ import annotations

from typing import Literal

ErrorType = Literal["Unhealthy", "Backend", "Overloaded", "Validation", "Tokenizer", "Empty", "Unauthorized"]

STATUS: dict[ErrorType, int] = {
    "Unhealthy": 503,
    "Backend": 424,
    "Overloaded": 429,
    "Validation": 413,
    "Tokenizer": 422,
    "Empty": 400,
    "Unauthorized": 401,
}


class ApiError(Exception):
    def __init__(self, error_type: ErrorType, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.error_type = error_type
        self.message = message
        self.status = status if status is not None else STATUS[error_type]
