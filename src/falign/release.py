"""Preparing a release: write its version (and today's date) into every file that names the last
release, so that they agree when the tag is made.

    python -m falign.release 0.2.0            # edits the five files below
    git commit -m "Release 0.2.0" -- pyproject.toml CITATION.cff cite.md CHANGELOG.md .zenodo.json
    git tag -a v0.2.0 -m "falign 0.2.0" && git push origin main v0.2.0

The files: pyproject.toml (setuptools-scm's fallback_version, what a clone without tags reads),
CITATION.cff (version, date-released), cite.md (the version in its text and BibTeX entry),
.zenodo.json (version) and CHANGELOG.md (the "Unreleased" notes become the release's).  The
pushed tag starts .github/workflows/release.yml.  tests/test_publishing.py checks that the five
agree."""
from __future__ import annotations

import argparse
import datetime as _dt
import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FILES = ("pyproject.toml", "CITATION.cff", "cite.md", ".zenodo.json", "CHANGELOG.md")
_VERSION = re.compile(r"\d+\.\d+\.\d+")


def _key(version: str) -> tuple[int, ...]:
    return tuple(int(x) for x in version.split("."))


def last_release(root: Path = ROOT) -> str:
    """The last release named by pyproject.toml (setuptools-scm's fallback_version)."""
    match = re.search(r'^fallback_version\s*=\s*"([^"]+)"', (root / "pyproject.toml").read_text(),
                      re.M)
    if not match:
        raise ValueError("pyproject.toml has no [tool.setuptools_scm] fallback_version. Fix: "
                         'add fallback_version = "<last release>" there.')
    return match.group(1)


def _sub_once(pattern: str, repl: str, text: str, where: str) -> str:
    new, count = re.subn(pattern, repl, text, count=1, flags=re.M)
    if count != 1:
        raise ValueError(f"{where}: found no {pattern!r} to set. Fix: restore the line the "
                         "release tool edits (see falign/release.py).")
    return new


def prepare(version: str, date: str | None = None, root: Path = ROOT) -> dict[str, str]:
    """The five files' new texts for release `version` dated `date` (default today, UTC);
    written back by main().  Raises ValueError on a malformed or non-increasing version."""
    if not _VERSION.fullmatch(version):
        raise ValueError(f"{version!r} is not X.Y.Z. Fix: give the release as three numbers, "
                         "e.g. 0.2.0 (the tag is then v0.2.0).")
    previous = last_release(root)
    if _key(version) <= _key(previous):
        raise ValueError(f"{version} is not after the last release {previous}. Fix: give a "
                         "higher version.")
    date = date or _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d")
    _dt.date.fromisoformat(date)
    texts = {name: (root / name).read_text() for name in FILES}
    texts["pyproject.toml"] = _sub_once(r'^fallback_version\s*=\s*"[^"]+"',
                                        f'fallback_version = "{version}"',
                                        texts["pyproject.toml"], "pyproject.toml")
    cff = _sub_once(r'^version:\s*"?[^"\n]+"?$', f'version: "{version}"', texts["CITATION.cff"],
                    "CITATION.cff")
    texts["CITATION.cff"] = _sub_once(r'^date-released:\s*"?[^"\n]+"?$',
                                      f'date-released: "{date}"', cff, "CITATION.cff")
    cite = _sub_once(r"version\s*=\s*\{[^}]+\}", f"version = {{{version}}}", texts["cite.md"],
                     "cite.md")
    texts["cite.md"] = _sub_once(r"version\s+\d+\.\d+\.\d+", f"version {version}", cite,
                                 "cite.md")
    zenodo = json.loads(texts[".zenodo.json"])
    zenodo["version"] = version
    texts[".zenodo.json"] = json.dumps(zenodo, indent=2, ensure_ascii=False) + "\n"
    texts["CHANGELOG.md"] = _sub_once(r"^## Unreleased\n", f"## Unreleased\n\n## {version} - {date}\n",
                                      texts["CHANGELOG.md"], "CHANGELOG.md")
    return texts


def named_versions(root: Path = ROOT) -> dict[str, str]:
    """The release each of the five files names (CHANGELOG.md: its newest dated section)."""
    import yaml

    cite = (root / "cite.md").read_text()
    bib = re.search(r"version\s*=\s*\{([^}]+)\}", cite)
    log = re.search(r"^## (\d+\.\d+\.\d+) - \d{4}-\d\d-\d\d$", (root / "CHANGELOG.md").read_text(),
                    re.M)
    return {"pyproject.toml": last_release(root),
            "CITATION.cff": str(yaml.safe_load((root / "CITATION.cff").read_text())["version"]),
            "cite.md": bib.group(1) if bib else "",
            ".zenodo.json": json.loads((root / ".zenodo.json").read_text())["version"],
            "CHANGELOG.md": log.group(1) if log else ""}


def notes(version: str, root: Path = ROOT) -> str:
    """CHANGELOG.md's section of `version` (the release's notes)."""
    text = (root / "CHANGELOG.md").read_text()
    match = re.search(rf"^## {re.escape(version)} - .*?\n(.*?)(?=^## |\Z)", text, re.M | re.S)
    if not match:
        raise ValueError(f"CHANGELOG.md has no section for {version}. Fix: run "
                         f"`python -m falign.release {version}` before tagging.")
    return match.group(1).strip() + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m falign.release", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("version", help="the release, X.Y.Z (tagged vX.Y.Z)")
    parser.add_argument("--date", default=None, help="release date YYYY-MM-DD (default today)")
    parser.add_argument("--check", action="store_true",
                        help="only check that the five files all name this release")
    parser.add_argument("--notes", action="store_true",
                        help="only print this release's section of CHANGELOG.md")
    args = parser.parse_args(argv)
    version = args.version.removeprefix("v")
    if args.check or args.notes:
        named = named_versions()
        wrong = {name: v for name, v in named.items() if v != version}
        if wrong:
            raise SystemExit(f"these files do not name release {version}: {wrong}. Fix: run "
                             f"`python -m falign.release {version}` and commit before tagging.")
        if args.notes:
            print(notes(version), end="")
        return
    args.version = version
    try:
        texts = prepare(args.version, args.date)
    except ValueError as err:
        raise SystemExit(str(err)) from None
    for name, text in texts.items():
        (ROOT / name).write_text(text)
    print(f"release {args.version}: set in {', '.join(FILES)}; next: commit them, tag "
          f"v{args.version}, push the tag.")


if __name__ == "__main__":
    main()
