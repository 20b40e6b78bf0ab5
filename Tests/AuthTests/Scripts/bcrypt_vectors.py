#!/usr/bin/env python3
"""Prints bcrypt vectors made by pyca/bcrypt (pip install bcrypt; 5.0.0 when these were recorded)
as Swift tuples for Tests/AuthTests/BcryptTests.swift (`pythonVectors`). Salts are fixed so the
output is reproducible: salt i is bytes(range(16*i, 16*i+16)) encoded by bcrypt's base64.
    python3 Tests/AuthTests/Scripts/bcrypt_vectors.py
"""
import bcrypt

ALPHABET = b"./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

def bcrypt_b64(data: bytes) -> bytes:
    out, i = bytearray(), 0
    while i < len(data):
        c1 = data[i]; out.append(ALPHABET[c1 >> 2]); c1 = (c1 & 3) << 4
        if i + 1 >= len(data): out.append(ALPHABET[c1]); break
        c2 = data[i + 1]; out.append(ALPHABET[c1 | c2 >> 4]); c2 = (c2 & 15) << 2
        if i + 2 >= len(data): out.append(ALPHABET[c2]); break
        c3 = data[i + 2]; out.append(ALPHABET[c2 | c3 >> 6]); out.append(ALPHABET[c3 & 63])
        i += 3
    return bytes(out)

passwords = [
    b"", b"a", b"password", b"correct horse battery staple",
    "pässwörd ünïcödé".encode(), "\u2605".encode() * 8,
    b"x" * 71, b"y" * 72, (b"0123456789" * 8)[:72],
]
for index, (password, prefix, cost) in enumerate(
        [(p, pre, c) for p in passwords for pre, c in ((b"2b", 4), (b"2a", 5), (b"2y", 4))]):
    salt = b"$" + prefix + b"$%02d$" % cost + bcrypt_b64(bytes((16 * index + k) % 256 for k in range(16)))[:22]
    hashed = bcrypt.hashpw(password, salt)
    assert bcrypt.checkpw(password, hashed)
    print('        ("%s", [%s]),' % (hashed.decode(), ", ".join(str(b) for b in password)))
