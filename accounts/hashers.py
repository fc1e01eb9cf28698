from django.contrib.auth.hashers import Argon2PasswordHasher


class OWASPArgon2PasswordHasher(Argon2PasswordHasher):
    """Argon2id at OWASP's recommended cost: 19 MiB of memory, 2 passes, 1 lane.

    Django's default (100 MiB, 8 lanes) costs ~90 ms of both cores per login on a small
    server, which turns the login endpoint into a denial-of-service lever. Hashes keep
    the `argon2` algorithm name, so existing ones verify and are upgraded on login.
    """

    time_cost = 2
    memory_cost = 19456
    parallelism = 1
