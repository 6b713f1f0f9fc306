"""The function's code run from the unpacked deployment zip alone: tests/test_packaging.py starts this file in a
child ``python -I -S`` (no site-packages, no checkout on the path) with the zip's directory and a directory of the
Lambda runtime's own packages (boto3 and its dependencies), so that anything the function needs that the zip left
out (tools/precompile.py) is an ImportError here, not at a cold start in AWS.

    python -I -S tests/zip_alone.py TASK_DIR RUNTIME_DIR   (a passkey ceremony's JSON on stdin)

It imports app.py, every module of chalicelib and every module chalicelib names in any import (the routes' lazy
ones included), runs the calls whose libraries import more as they run (an address checked by email-validator, a
phone number by phonenumbers, a QR code by segno, a JWT by PyJWT, AES-GCM), and verifies a passkey registration
and an assertion with the zip's webauthn. It prints, as JSON, the top-level names it loaded from the zip, and
fails if any module came from elsewhere than the zip, the runtime directory or the standard library.
"""

from __future__ import annotations

import ast
import importlib
import json
import pkgutil
import sys
import sysconfig
from pathlib import Path


def main() -> None:
    task, runtime = (Path(argument).absolute() for argument in sys.argv[1:3])
    sys.path[:0] = [str(task), str(runtime)]
    import app  # noqa: F401  (the routes, as the handler loads them)
    import chalicelib

    for found in pkgutil.walk_packages(chalicelib.__path__, "chalicelib."):
        importlib.import_module(found.name)
    for name in sorted(_named_imports(task / "chalicelib")):
        importlib.import_module(name)
    _run_lazy_imports()
    _verify_passkey(json.load(sys.stdin))

    allowed = (str(task), str(runtime), *{sysconfig.get_path(kind) for kind in ("stdlib", "platstdlib")})
    strays = sorted(
        f"{name}: {path}"
        for name, module in list(sys.modules.items())
        if name != "__main__" and (path := getattr(module, "__file__", None)) and not path.startswith(allowed)
    )
    assert not strays, strays
    from_zip = {
        name.split(".")[0]
        for name, module in list(sys.modules.items())
        if (path := getattr(module, "__file__", None)) and path.startswith(str(task))
    }
    print(json.dumps(sorted(from_zip)))


def _named_imports(package: Path) -> set[str]:
    """The modules outside the standard library that the code under ``package`` imports, anywhere in it."""
    names = set()
    for path in package.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module)
    return {name for name in names if name.split(".")[0] not in sys.stdlib_module_names}


def _run_lazy_imports() -> None:
    """The calls after which email-validator, phonenumbers, segno, pyotp, PyJWT and cryptography have imported
    what they import only as they run."""
    import jwt
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    from chalicelib.accounts.addresses import normalize_address
    from chalicelib.accounts.phones import normalize_phone
    from chalicelib.mfa import totp

    # Outside the plain grammar, so that email-validator (and idna) check it, as they would a person's.
    assert normalize_address("Someone@Bücher.example") == "someone@xn--bcher-kva.example"
    assert normalize_phone("+44 7400 123456", {"GB"}, allow_voip=False).value == "+447400123456"
    assert totp.qr_svg(totp.provisioning_uri(totp.new_secret(), "someone@example.com", "otp-signin")).startswith("<")
    key = ec.generate_private_key(ec.SECP256R1())
    token = jwt.encode({"sub": "someone"}, key, algorithm="ES256")
    assert jwt.decode(token, key.public_key(), algorithms=["ES256"]) == {"sub": "someone"}
    sealed = AESGCM(bytes(32)).encrypt(bytes(12), b"address", None)
    assert AESGCM(bytes(32)).decrypt(bytes(12), sealed, None) == b"address"


def _verify_passkey(ceremony: dict[str, object]) -> None:
    """A registration and then an assertion of the same passkey, verified by the zip's webauthn."""
    from webauthn import verify_authentication_response, verify_registration_response
    from webauthn.helpers import base64url_to_bytes

    registration, authentication = ceremony["registration"], ceremony["authentication"]
    assert isinstance(registration, dict) and isinstance(authentication, dict)
    origin, rp_id = str(ceremony["origin"]), str(ceremony["rp_id"])
    registered = verify_registration_response(
        credential=registration["credential"],
        expected_challenge=base64url_to_bytes(registration["challenge"]),
        expected_rp_id=rp_id,
        expected_origin=origin,
        require_user_verification=True,
    )
    signed_in = verify_authentication_response(
        credential=authentication["credential"],
        expected_challenge=base64url_to_bytes(authentication["challenge"]),
        expected_rp_id=rp_id,
        expected_origin=origin,
        credential_public_key=registered.credential_public_key,
        credential_current_sign_count=registered.sign_count,
        require_user_verification=True,
    )
    assert signed_in.new_sign_count == 1, signed_in


if __name__ == "__main__":
    main()
