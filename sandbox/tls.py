"""A local certificate authority and server certificate for the sandbox's HTTPS side.

MSAL only accepts an https authority, so Microsoft's emulated identity platform must be
served over TLS. Demo and test set-up generate a throwaway CA with `trustme` and point
`requests` at it with REQUESTS_CA_BUNDLE (which also overrides a `verify=False`); nothing
here is used in production, and TLS checks are never turned off.
"""

import os
from dataclasses import dataclass
from pathlib import Path

HOSTS = ("127.0.0.1", "localhost")


@dataclass(frozen=True)
class TlsFiles:
    ca: Path
    certificate: Path
    key: Path

    def trust_bundle(self, public_bundle: str) -> Path:
        """The public CAs plus the sandbox's: what REQUESTS_CA_BUNDLE points at in the demo
        and tests, so the sandbox is trusted without trusting less elsewhere."""
        bundle = self.ca.with_name("trust-bundle.pem")
        # Several processes start at once: write aside, then rename into place atomically.
        staging = bundle.with_name(f"trust-bundle.{os.getpid()}.tmp")
        staging.write_bytes(Path(public_bundle).read_bytes() + b"\n" + self.ca.read_bytes())
        staging.replace(bundle)
        return bundle


def tls_files(folder: Path) -> TlsFiles:
    """Create (once) and return the CA bundle, server certificate chain and key."""
    files = TlsFiles(folder / "ca.pem", folder / "server-chain.pem", folder / "server-key.pem")
    if files.ca.exists() and files.certificate.exists() and files.key.exists():
        return files
    import trustme  # a development/test dependency only

    folder.mkdir(parents=True, exist_ok=True)
    authority = trustme.CA(organization_name="Threadline sandbox (local only)")
    server = authority.issue_cert(*HOSTS)
    authority.cert_pem.write_to_path(str(files.ca))
    server.private_key_pem.write_to_path(str(files.key))
    with files.certificate.open("wb") as chain:
        for blob in server.cert_chain_pems:
            chain.write(blob.bytes())
    files.key.chmod(0o600)
    return files
