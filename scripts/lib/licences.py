"""Writes the licences of what the release binary links: every crate in its dependency graph (normal dependencies,
for one target and the features the release uses), with its licence expression and the text of its licence files,
and the C libraries vendored inside some of them (OpenSSL, libgit2, libssh2, zlib), whose texts sit in their
sources.

    python3 licences.py TARGET FEATURES OUT      (run from the workspace root)
"""

import json
import pathlib
import subprocess
import sys

LICENCE_PREFIXES = ("licen", "copying", "notice", "unlicense")
# Sub-folders of a -sys crate that hold the vendored C library's own sources.
VENDORED = ("openssl", "libgit2", "libssh2", "src/zlib", "src/zlib-ng")


def licence_files(folder: pathlib.Path) -> list[pathlib.Path]:
    if not folder.is_dir():
        return []
    return sorted(
        p for p in folder.iterdir() if p.is_file() and p.name.lower().startswith(LICENCE_PREFIXES)
    )


def main() -> None:
    target, features, out = sys.argv[1], sys.argv[2], pathlib.Path(sys.argv[3])
    meta = json.loads(
        subprocess.check_output(
            ["cargo", "metadata", "--format-version", "1", "--locked", "--filter-platform", target,
             "--features", features, "--manifest-path", "server/Cargo.toml"]
        )
    )
    packages = {p["id"]: p for p in meta["packages"]}
    nodes = {n["id"]: n for n in meta["resolve"]["nodes"]}
    root = next(p["id"] for p in meta["packages"] if p["name"] == "openhands-lsp")
    # What is linked: normal dependencies (build scripts and proc macros run at build time, tests never ship).
    seen, todo = set(), [root]
    while todo:
        node = nodes[todo.pop()]
        for dep in node["deps"]:
            # A `-src` crate is a build dependency whose C sources are compiled in (openssl-src's OpenSSL).
            vendors = packages[dep["pkg"]]["name"].endswith("-src")
            if (vendors or any(k["kind"] is None for k in dep["dep_kinds"])) and dep["pkg"] not in seen:
                seen.add(dep["pkg"])
                todo.append(dep["pkg"])
    crates, texts, missing = [], {}, []

    def text_number(label: str, body: str) -> int:
        # Identical texts (the Apache licence, mostly) are printed once, under the number every crate cites.
        key = " ".join(body.split())
        if key not in texts:
            texts[key] = (len(texts) + 1, label, body.rstrip())
        return texts[key][0]

    for pid in sorted(seen, key=lambda i: (packages[i]["name"], packages[i]["version"])):
        pkg = packages[pid]
        if pkg["source"] is None:
            continue
        folder = pathlib.Path(pkg["manifest_path"]).parent
        files = licence_files(folder)
        if not files and pkg.get("license_file"):
            files = [folder / pkg["license_file"]]
        if not files:
            missing.append(f"{pkg['name']} {pkg['version']}")
        name = f"{pkg['name']} {pkg['version']}"
        cited = [text_number(f"{name}: {f.name}", f.read_text(errors="replace")) for f in files]
        for sub in VENDORED:
            for f in licence_files(folder / sub):
                label = f"{name}: vendored {sub}: {f.name}"
                cited.append(text_number(label, f.read_text(errors="replace")))
        expression = pkg.get("license") or pkg.get("license_file") or "unknown"
        crates.append(f"{name}: {expression}; {pkg.get('repository') or ''}; texts {', '.join(map(str, cited)) or '-'}")
    lines = [
        "Third-party software in this openhands-lsp binary, with its licences.",
        "",
        "openhands-lsp itself is under the MIT licence (LICENSE). It links the crates listed first, each with its",
        "licence expression, its repository and the numbers of its licence texts, which follow the list (each text",
        "once). Some of the crates compile C libraries into it (OpenSSL, libgit2, libssh2, zlib): their texts are",
        "marked `vendored`.",
        "",
        *crates,
        "",
    ]
    for number, label, body in texts.values():
        lines += ["=" * 100, f"[{number}] {label}", "", body, ""]
    out.write_text("\n".join(lines) + "\n")
    # A crate without any licence text is named on stderr: its expression is still listed above.
    for name in missing:
        print(f"licences: {name} ships no licence file (its expression is listed)", file=sys.stderr)


if __name__ == "__main__":
    main()
