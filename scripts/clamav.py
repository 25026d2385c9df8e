"""ClamAV's command-line scanner, from Debian's packages, without installing it:

    python -m scripts.clamav install .tools/clamav

`apt-get download` fetches clamav and libclamav12 and each of their `Depends` that dpkg does not
report installed; `dpkg -x` unpacks them into <folder>/root (no maintainer scripts, no daemon, no
root); <folder>/bin/clamscan runs the unpacked binary with the unpacked libraries. No signature
download is reachable here: the stand-in scanner uses our own database
(local_stack/clamav/exam-depository.ndb), and the install checks that clamscan finds EICAR with it.
Versions are not pinned: Debian's security updates replace them.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATABASE = ROOT / "local_stack" / "clamav" / "exam-depository.ndb"
PACKAGES = ("clamav", "libclamav12")
# The EICAR test file, in two halves so that no scanner on a developer's machine quarantines the repository.
_EICAR_HALVES = (r"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDA", r"RD-ANTIVIRUS-TEST-FILE!$H+H*")


def eicar() -> bytes:
    return "".join(_EICAR_HALVES).encode("ascii")


def say(message: str) -> None:
    print(f"+ {message}", file=sys.stderr, flush=True)


def _run(*command: str, cwd: Path | None = None, given: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    """A Debian tool or the unpacked clamscan, no shell; the caller reads the exit status."""
    return subprocess.run(command, capture_output=True, cwd=cwd, input=given, check=False)  # noqa: S603


def _output(*command: str, cwd: Path | None = None) -> str:
    done = _run(*command, cwd=cwd)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed: {done.stderr.decode(errors='replace')}")
    return done.stdout.decode()


def _sudo() -> tuple[str, ...]:
    return () if os.geteuid() == 0 else ("sudo",)


def _has_candidate(package: str) -> bool:
    policy = _output("apt-cache", "policy", package)
    match = re.search(r"Candidate:\s*(\S+)", policy)
    return bool(match) and match.group(1) != "(none)"  # type: ignore[union-attr]


def depends(package: str) -> list[str]:
    """The package names `apt-cache depends` lists as Depends (alternatives: the first; virtual ones skipped)."""
    names: list[str] = []
    for line in _output("apt-cache", "depends", package).splitlines():
        match = re.match(r"\s*\|?Depends:\s*(\S+)", line)
        if match and not match.group(1).startswith("<"):
            names.append(match.group(1).split(":")[0])
    return names


def _installed(package: str) -> bool:
    done = _run("dpkg-query", "-W", "-f=${db:Status-Status}", package)
    return done.returncode == 0 and done.stdout.strip() == b"installed"


def wanted_packages() -> list[str]:
    """clamav, libclamav12 and what they need that this machine lacks; never the freshclam updater."""
    wanted = list(PACKAGES)
    for package in PACKAGES:
        for dependency in depends(package):
            if dependency in wanted or dependency.startswith("clamav-") or _installed(dependency):
                continue
            wanted.append(dependency)
    return wanted


WRAPPER = """#!/bin/sh
# ClamAV unpacked from Debian's packages by scripts/clamav.py: its libraries are beside it.
here="$(cd "$(dirname "$0")/.." && pwd)"
libraries="$here/root/usr/lib/x86_64-linux-gnu:$here/root/usr/lib/aarch64-linux-gnu"
LD_LIBRARY_PATH="$libraries${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" exec "$here/root/usr/bin/clamscan" "$@"
"""


def check(clamscan: Path, database: Path = DATABASE) -> str:
    """clamscan's version, after proving it finds EICAR with our database and passes a clean file."""
    version = _output(str(clamscan), "--version").strip()
    scan = (str(clamscan), "--no-summary", "--stdout", "-d", str(database), "-")
    found = _run(*scan, given=eicar())
    if found.returncode != 1 or b"Eicar-Test-Signature" not in found.stdout:
        raise SystemExit(f"clamscan did not find EICAR (exit {found.returncode}): {found.stdout!r} {found.stderr!r}")
    clean = _run(*scan, given=b"a clean answer\n")
    if clean.returncode != 0:
        raise SystemExit(f"clamscan flagged a clean file (exit {clean.returncode}): {clean.stdout!r}")
    return version


def install(folder: Path) -> Path:
    folder = folder.resolve()
    if not _has_candidate("clamav"):
        say("apt-get update (no clamav candidate in the package lists)")
        _output(*_sudo(), "apt-get", "update", "-qq")
    packages = wanted_packages()
    shutil.rmtree(folder / "root", ignore_errors=True)
    (folder / "bin").mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="clamav-debs-") as scratch:
        say(f"apt-get download {' '.join(packages)}")
        _output("apt-get", "download", *packages, cwd=Path(scratch))
        for deb in sorted(Path(scratch).glob("*.deb")):
            _output("dpkg", "-x", str(deb), str(folder / "root"))
    clamscan = folder / "bin" / "clamscan"
    clamscan.write_text(WRAPPER)
    clamscan.chmod(0o755)
    say(f"{check(clamscan)}: finds EICAR with {DATABASE.relative_to(ROOT)}")
    return clamscan


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    install_command = commands.add_parser("install", help="download and unpack ClamAV into FOLDER")
    install_command.add_argument("folder", type=Path)
    arguments = parser.parse_args(argv)
    if arguments.command == "install":
        install(arguments.folder)


if __name__ == "__main__":
    main()
