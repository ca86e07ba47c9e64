"""Argon2 with the cheapest parameters, for tests only.

Production hashes with Django's Argon2 defaults (about 100 MiB and a tenth of a second per
password, on purpose). The suite creates thousands of staff logins; the same algorithm with
tiny parameters keeps every password check real (an `argon2$argon2id$…` hash verified by
argon2-cffi) without spending minutes of CI on key stretching.
"""

from __future__ import annotations

from django.contrib.auth.hashers import Argon2PasswordHasher


class QuickArgon2PasswordHasher(Argon2PasswordHasher):
    time_cost = 1
    memory_cost = 8  # KiB, argon2's minimum for one lane
    parallelism = 1
