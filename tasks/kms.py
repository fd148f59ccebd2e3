"""KMS: encrypt and decrypt small secrets with a named key, bound to an encryption context.

The leads table holds a lead's contact details and questions only as KMS ciphertext
(docs/spec/report-insights.md, section 7). The key (an id, ARN or ``alias/...``) is the
caller's (the flow's settings, ``leads_key``): this module reads no settings.

The encryption context is authenticated data: ciphertext decrypts only with the context
it was made with, so a lead's ciphertext copied onto another lead's item does not
decrypt. KMS takes at most 4,096 bytes of plaintext; the pure core keeps what it seals
within that (``tasks.core.leads.SEALED_LIMIT``).
"""

from __future__ import annotations

from collections.abc import Mapping

from tasks.aws import aws_client


def encrypt(key: str, plaintext: bytes, context: Mapping[str, str]) -> bytes:
    """One ``Encrypt`` of ``plaintext`` (at most 4 KiB) with ``key`` under ``context``."""
    response = aws_client("kms").encrypt(
        KeyId=key, Plaintext=plaintext, EncryptionContext=dict(context)
    )
    return bytes(response["CiphertextBlob"])


def decrypt(key: str, ciphertext: bytes, context: Mapping[str, str]) -> bytes:
    """One ``Decrypt`` of ``ciphertext`` made by :func:`encrypt` with ``key`` and
    ``context``; KMS refuses (``InvalidCiphertextException``) any other context or key."""
    response = aws_client("kms").decrypt(
        KeyId=key, CiphertextBlob=ciphertext, EncryptionContext=dict(context)
    )
    return bytes(response["Plaintext"])
