#!/usr/bin/env python3
"""Make a JWKS and test tokens for warden serve's JWT authentication (PyJWT + cryptography,
as installed with the MCP SDK).

usage: jwt_tokens.py OUT_DIR

Writes OUT_DIR/jwks.json (one RSA key, kid "k1") and OUT_DIR/tokens.json with:
good (sub alice@example.com, roles [engineer], aud warden, iss https://idp.example.com, 1 h),
expired, wrong_audience, wrong_issuer, foreign_key (signed by a key not in the JWKS).
"""

import json
import pathlib
import sys
import time

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

out = pathlib.Path(sys.argv[1])
key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
jwk = json.loads(RSAAlgorithm.to_jwk(key.public_key()))
jwk.update(kid="k1", use="sig", alg="RS256")
(out / "jwks.json").write_text(json.dumps({"keys": [jwk]}))

now = int(time.time())
base = {"sub": "alice@example.com", "roles": ["engineer"], "aud": "warden",
        "iss": "https://idp.example.com", "iat": now, "exp": now + 3600}


def sign(claims, k=key):
    return jwt.encode(claims, k, algorithm="RS256", headers={"kid": "k1"})


tokens = {
    "good": sign(base),
    "expired": sign({**base, "iat": now - 7200, "exp": now - 3600}),
    "wrong_audience": sign({**base, "aud": "someone-else"}),
    "wrong_issuer": sign({**base, "iss": "https://evil.example.com"}),
    "foreign_key": sign(base, other),
}
(out / "tokens.json").write_text(json.dumps(tokens))
