#!/usr/bin/env python3
"""Writes tests/fixtures/hf-cache/: a Hugging Face cache filled by huggingface_hub itself.

huggingface_hub's `hf_hub_download` downloads the repository `fixture/a-ft` (the files of
tests/fixtures/models/a_ft) from a local server that speaks the hub's resolve protocol exactly
as tests/common/http.rs's test server does:

* `HEAD`/`GET /{owner}/{name}/resolve/{revision}/{file}`: `X-Repo-Commit` = the first 40 hex
  digits of sha256(revision) (the revision itself when it is a 40-digit hash), `ETag` =
  "sha256 of the bytes"; weights (`.safetensors`, `.bin`) answer like LFS files, `302` to an
  absolute `/cdn/…` URL on a second server (another origin, as a CDN is) with `X-Linked-Etag`
  and `X-Linked-Size`;
* a file the repository lacks: `404` with `X-Error-Code: EntryNotFound` and the commit.

tests/download.rs then (1) reads this cache with HF_HUB_OFFLINE semantics, and (2) downloads
the same repository from its own server into an empty cache and checks that the tree equals
this one: same blobs, same snapshot links, same refs, same `.no_exist` markers.

Run from the repository root with the packages of scripts/requirements-fixtures.txt (it needs
huggingface_hub, which transformers brings). Deterministic: re-running gives the same tree.
With `--check target/debug/wiseft` it instead lets `wiseft` download the same repository into
an empty cache and asks huggingface_hub, offline, for its files: Python reads what wiseft wrote.
"""
import argparse
import hashlib
import http.server
import os
import shutil
import sys
import tempfile
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REPO = "fixture/a-ft"
SOURCE = ROOT / "tests/fixtures/models/a_ft"
OUT = ROOT / "tests/fixtures/hf-cache"
FILES = ["model.safetensors", "config.json"]
ABSENT = ["preprocessor_config.json"]


def commit_of(revision: str) -> str:
    if len(revision) == 40 and all(c in "0123456789abcdef" for c in revision):
        return revision
    return hashlib.sha256(revision.encode()).hexdigest()[:40]


class Handler(http.server.BaseHTTPRequestHandler):
    files: dict = {}
    cdn = ""  # base URL of the second server, which plays the CDN (another origin)

    def log_message(self, *args):
        pass

    def answer(self, body: bool):
        path = self.path.split("?")[0]
        cdn = path.startswith("/cdn/")
        parts = path.removeprefix("/cdn").lstrip("/").split("/")
        if len(parts) < 5 or parts[2] != "resolve":
            self.send_response(404)
            self.end_headers()
            return
        repo, revision, file = "/".join(parts[:2]), parts[3], "/".join(parts[4:])
        data = self.files.get(repo, {}).get(file)
        commit = commit_of(revision)
        if data is None:
            self.send_response(404)
            self.send_header("X-Error-Code", "EntryNotFound" if repo in self.files else "RepositoryNotFound")
            if repo in self.files:
                self.send_header("X-Repo-Commit", commit)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        etag = '"' + hashlib.sha256(data).hexdigest() + '"'
        lfs = file.endswith((".safetensors", ".bin"))
        if lfs and not cdn:
            self.send_response(302)
            self.send_header("Location", f"{self.cdn}/cdn{path}")
            self.send_header("X-Repo-Commit", commit)
            self.send_header("X-Linked-Etag", etag)
            self.send_header("X-Linked-Size", str(len(data)))
            self.send_header("ETag", '"redirect"')
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        start = 0
        rng = self.headers.get("Range")
        if rng and rng.startswith("bytes=") and rng.endswith("-"):
            start = int(rng[6:-1])
        self.send_response(206 if start else 200)
        if not cdn:
            self.send_header("X-Repo-Commit", commit)
        self.send_header("ETag", etag)
        if start:
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        self.send_header("Content-Length", str(len(data) - start))
        self.end_headers()
        if body:
            self.wfile.write(data[start:])

    def do_HEAD(self):
        self.answer(False)

    def do_GET(self):
        self.answer(True)


def serve():
    """The hub and, on another port (so another origin, whose redirect is not followed), its CDN."""
    Handler.files = {REPO: {f: (SOURCE / f).read_bytes() for f in FILES}}
    servers = [http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler) for _ in range(2)]
    for s in servers:
        threading.Thread(target=s.serve_forever, daemon=True).start()
    Handler.cdn = f"http://127.0.0.1:{servers[1].server_address[1]}"
    return servers


def generate():
    servers = serve()
    os.environ["HF_ENDPOINT"] = f"http://127.0.0.1:{servers[0].server_address[1]}"
    os.environ.pop("HF_HUB_OFFLINE", None)
    os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"
    import huggingface_hub
    from huggingface_hub.errors import EntryNotFoundError

    with tempfile.TemporaryDirectory() as tmp:
        for f in FILES:
            huggingface_hub.hf_hub_download(REPO, f, revision="main", cache_dir=tmp)
        for f in ABSENT:
            try:
                huggingface_hub.hf_hub_download(REPO, f, revision="main", cache_dir=tmp)
                sys.exit(f"{f} should be absent")
            except EntryNotFoundError:
                pass
        shutil.rmtree(OUT, ignore_errors=True)
        shutil.copytree(tmp, OUT, symlinks=True, ignore=shutil.ignore_patterns(".locks"))
    for s in servers:
        s.shutdown()
    (OUT / "README.md").write_text(
        "Written by `huggingface_hub` "
        f"{huggingface_hub.__version__} through scripts/gen_hf_cache_fixture.py; do not edit.\n"
        f"`{REPO}` at `main` = the files of tests/fixtures/models/a_ft; "
        f"{', '.join(ABSENT)} absent (`.no_exist`).\n"
    )
    for p in sorted(OUT.rglob("*")):
        print(p.relative_to(OUT), "->", os.readlink(p) if p.is_symlink() else "")


def check(wiseft: str):
    """`wiseft inspect fixture/a-ft` downloads into an empty cache; huggingface_hub, offline, reads it."""
    import subprocess

    servers = serve()
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, HF_ENDPOINT=f"http://127.0.0.1:{servers[0].server_address[1]}", HF_HUB_CACHE=cache)
        env.pop("HF_HUB_OFFLINE", None)
        subprocess.run([wiseft, "inspect", REPO], env=env, check=True, stdout=subprocess.DEVNULL)
        for s in servers:
            s.shutdown()
        os.environ["HF_HUB_OFFLINE"] = "1"
        import huggingface_hub

        for f in FILES:
            p = huggingface_hub.hf_hub_download(REPO, f, revision="main", cache_dir=cache)
            assert Path(p).read_bytes() == (SOURCE / f).read_bytes(), f
            print("huggingface_hub (offline) found", f, "in the cache wiseft wrote")
        for f in ABSENT:
            r = huggingface_hub.try_to_load_from_cache(REPO, f, cache_dir=cache, revision="main")
            assert r is huggingface_hub.file_download._CACHED_NO_EXIST, (f, r)
            print("huggingface_hub knows", f, "is absent")


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--check", metavar="WISEFT", help="path of the wiseft binary: download with it, read with huggingface_hub")
    args = ap.parse_args()
    check(args.check) if args.check else generate()
