"""What a password must be before it is stored: hard to guess, and not the username.

Length alone lets ``passwordpassword`` through, so the strength is estimated with zxcvbn
(Dropbox's estimator: dictionaries of 30,000 common passwords, names and English words,
keyboard walks, repeats, sequences, dates, l33t substitutions). A password must score at
least 3 ("safely unguessable": about 10^8 guesses, months of online guessing against the
login limits). The checks below it are refusals with a plainer reason than a score.
"""

from __future__ import annotations

from zxcvbn import zxcvbn
from zxcvbn.frequency_lists import FREQUENCY_LISTS

MIN_LENGTH = 10
MAX_LENGTH = 256
MIN_SCORE = 3
# zxcvbn refuses longer input (its matching is super-linear): the estimate covers the
# first 72 characters, which must be strong on their own.
ESTIMATED_CHARS = 72
_COMMON = frozenset(FREQUENCY_LISTS["passwords"])


class WeakPassword(ValueError):
    """The password is refused; the message says why, for the person choosing it."""


def problem(password: str, username: str = "", other_inputs: tuple[str, ...] = ()) -> str | None:
    """Why ``password`` is refused, or None when it is acceptable. CPU-bound (up to ~0.1 s):
    call it off the event loop."""
    try:
        password.encode("utf-8")
    except UnicodeEncodeError:
        return "password contains characters that cannot be stored (lone surrogates)"
    if "\x00" in password:
        return "password must not contain NUL characters"
    if not password.strip():
        return "password must not be only spaces"
    if len(password) < MIN_LENGTH:
        return f"password must be at least {MIN_LENGTH} characters"
    if len(password) > MAX_LENGTH:
        return f"password must be at most {MAX_LENGTH} characters"
    folded = password.casefold()
    name = username.strip().casefold()
    if name and (folded == name or (len(name) >= 3 and name in folded)):
        return "password must not contain the username"
    if folded in _COMMON or folded.strip() in _COMMON:
        return "password is one of the most commonly used passwords"
    inputs = [s for s in (username, *other_inputs) if s]
    result = zxcvbn(password[:ESTIMATED_CHARS], user_inputs=inputs)
    if result["score"] < MIN_SCORE:
        feedback = result["feedback"]
        hint = " ".join(filter(None, [feedback["warning"], *feedback["suggestions"][:1]]))
        return "password is too easy to guess" + (f": {hint}" if hint else "")
    return None


def check(password: str, username: str = "", other_inputs: tuple[str, ...] = ()) -> None:
    """Raise WeakPassword naming the reason, or return when the password is acceptable."""
    reason = problem(password, username, other_inputs)
    if reason is not None:
        raise WeakPassword(reason)
