#!/usr/bin/env python3
"""Makes the cross-check tokens of Tests/AuthTests/ExternalTokenTests.swift with PyJWT and
pyca/cryptography (pip install pyjwt cryptography; PyJWT 2.15.1, cryptography 48.0.0 when
recorded): a fresh RSA-2048 key, P-256 key and Ed25519 key, one token each, and the JWKS with
their public halves. Keys are random, so each run prints different (equally valid) values.
    python3 Tests/AuthTests/Scripts/pyjwt_tokens.py
"""
import json
import jwt
from jwt.algorithms import RSAAlgorithm, ECAlgorithm, OKPAlgorithm
from cryptography.hazmat.primitives.asymmetric import rsa, ec, ed25519

claims = {"iss": "https://issuer.example", "aud": "https://api.example", "sub": "py-user",
          "scope": "read write", "iat": 1700000000, "nbf": 1700000000, "exp": 4102444800}
rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
ec_key = ec.generate_private_key(ec.SECP256R1())
ed_key = ed25519.Ed25519PrivateKey.generate()
keys = []
for kid, key, algorithm in (("py-rsa", rsa_key, RSAAlgorithm), ("py-ec", ec_key, ECAlgorithm), ("py-ed", ed_key, OKPAlgorithm)):
    jwk = json.loads(algorithm.to_jwk(key.public_key()))
    jwk["kid"] = kid
    keys.append(jwk)
print("jwks:", json.dumps({"keys": keys}, separators=(",", ":")))
print("rs256:", jwt.encode(claims, rsa_key, algorithm="RS256", headers={"kid": "py-rsa"}))
print("es256:", jwt.encode(claims, ec_key, algorithm="ES256", headers={"kid": "py-ec"}))
print("eddsa:", jwt.encode(claims, ed_key, algorithm="EdDSA", headers={"kid": "py-ed"}))
