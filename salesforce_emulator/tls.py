"""Key material the emulator keeps in its data dir: a CA, a server certificate, a JWT keypair.

Generated once with `cryptography` on first start and reused afterwards, so clients that
already trust DIR/ca.pem keep working across restarts.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import ssl
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

_VALIDITY = dt.timedelta(days=3650)


@dataclass(frozen=True)
class TlsFiles:
    ca_file: Path
    cert_file: Path
    key_file: Path


@dataclass(frozen=True)
class JwtKeyFiles:
    private_key_file: Path
    cert_file: Path


def _new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _write_key(path: Path, key: rsa.RSAPrivateKey) -> None:
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    path.chmod(0o600)


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "salesforce_emulator"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _builder(subject: x509.Name, issuer: x509.Name, public_key) -> x509.CertificateBuilder:
    now = dt.datetime.now(dt.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + _VALIDITY)
    )


def ensure_tls_files(data_dir: Path) -> TlsFiles:
    """Return the CA and server certificate in DATA_DIR, creating them on first use."""
    files = TlsFiles(data_dir / "ca.pem", data_dir / "server-cert.pem", data_dir / "server-key.pem")
    if all(p.exists() for p in (files.ca_file, files.cert_file, files.key_file)):
        return files
    ca_key = _new_key()
    ca_name = _name("salesforce_emulator local CA")
    ca_cert = (
        _builder(ca_name, ca_name, ca_key.public_key())
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
                encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    server_key = _new_key()
    server_cert = (
        _builder(_name("127.0.0.1"), ca_name, server_key.public_key())
        .add_extension(
            x509.SubjectAlternativeName(
                [
                    x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                    x509.DNSName("localhost"),
                ]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    _write_key(files.key_file, server_key)
    files.cert_file.write_bytes(server_cert.public_bytes(serialization.Encoding.PEM))
    # The CA file is written last: its presence marks the set as complete.
    files.ca_file.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    return files


def ensure_jwt_keypair(data_dir: Path) -> JwtKeyFiles:
    """A keypair for JWT bearer tests: clients sign with the key, the emulator verifies with the cert."""
    files = JwtKeyFiles(data_dir / "jwt-private-key.pem", data_dir / "jwt-cert.pem")
    if files.private_key_file.exists() and files.cert_file.exists():
        return files
    key = _new_key()
    name = _name("salesforce_emulator JWT signing")
    cert = _builder(name, name, key.public_key()).sign(key, hashes.SHA256())
    _write_key(files.private_key_file, key)
    files.cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return files


def load_public_key_pem(cert_file: Path) -> bytes:
    """The PEM public key of a certificate, the form pyjwt verifies RS256 signatures with."""
    cert = x509.load_pem_x509_certificate(cert_file.read_bytes())
    return cert.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def server_context(files: TlsFiles) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(files.cert_file, files.key_file)
    return context
