"""Signs JSON Web Tokens for the end-to-end tests with PyJWT, an independent
and widely used token library, so that the gateway is checked against
tokens it did not make itself.

Reads a JSON spec on stdin:
  {"issuer": ISS, "keys": [{"kid", "alg"}], "publish": [[KID, ...], ...],
   "tokens": {NAME: {"kid", "claims", "forge"?: bool}}}
Claims may use "$now+SECONDS" / "$now-SECONDS" for times. Writes
  {"jwks": [SET, ...] (one per "publish" list), "tokens": {NAME: TOKEN}}
"""

import base64
import json
import sys
import time

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def new_key(alg: str):
    if alg.startswith("RS") or alg.startswith("PS"):
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    if alg == "ES256":
        return ec.generate_private_key(ec.SECP256R1())
    if alg == "EdDSA":
        return ed25519.Ed25519PrivateKey.generate()
    if alg.startswith("HS"):
        return ("hmac-secret-for-" + alg + "-" + str(time.time_ns())).encode()
    raise SystemExit(f"unknown algorithm {alg}")


def public_jwk(kid: str, alg: str, key) -> dict:
    if alg.startswith("HS"):
        jwk = {"kty": "oct", "k": b64(key)}
    elif alg.startswith("RS") or alg.startswith("PS"):
        jwk = json.loads(RSAAlgorithm.to_jwk(key.public_key()))
    elif alg == "ES256":
        jwk = json.loads(ECAlgorithm.to_jwk(key.public_key()))
    else:
        jwk = json.loads(OKPAlgorithm.to_jwk(key.public_key()))
    jwk.update({"kid": kid, "alg": alg, "use": "sig"})
    return jwk


def resolve(value, now: int):
    if isinstance(value, str) and value.startswith("$now"):
        return now + int(value[4:] or 0)
    return value


def main() -> None:
    spec = json.load(sys.stdin)
    now = int(time.time())
    keys = {k["kid"]: (k["alg"], new_key(k["alg"])) for k in spec["keys"]}
    jwks = [
        {"keys": [public_jwk(kid, keys[kid][0], keys[kid][1]) for kid in kids]}
        for kids in spec["publish"]
    ]
    tokens = {}
    for name, t in spec["tokens"].items():
        alg, key = keys[t["kid"]]
        if t.get("forge"):
            key = new_key(alg)
        claims = {k: resolve(v, now) for k, v in t["claims"].items()}
        headers = {"kid": t["kid"]} if t["kid"] else {}
        tokens[name] = jwt.encode(claims, key, algorithm=alg, headers=headers)
    json.dump({"jwks": jwks, "tokens": tokens}, sys.stdout)


main()
