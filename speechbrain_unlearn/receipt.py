"""Unlearning receipts: what was removed, from which weights, by what, checkable by anyone.

Every run and every deletion request writes ``unlearning_receipt.json`` in
its output folder. Each hash in it is the plain SHA-256 of bytes on disk,
so ``sha256sum`` alone can check it:

* ``forget.ids_sha256``: of the sorted forget IDs, one per line, no final
  newline (``LC_ALL=C sort ids.txt | head -c -1 | sha256sum``); ``forget.audio_sha256``:
  of the forget utterances' audio files, concatenated in the order of
  ``forget.audio_files`` (``cat <files> | sha256sum``);
* ``files``: every file the receipt vouches for (input and output weights,
  manifests, results), as ``{path: sha256}``, paths relative to the
  receipt's folder where they lie inside it;
* ``previous_receipt``: the receipt of the request this one continued from,
  copied to ``receipts/`` and named with its own hash, so the chain over
  sequential requests lives in the folder.

Besides the hashes: the method, its status (``fallback``: the method handed
the request to retraining), its resolved hparams, the certificate where the
method has one, the metrics where they were computed, package versions,
seed, and start and end times.

``python -m speechbrain_unlearn.receipt verify <folder>`` re-hashes every
file and link and names each that does not match.

Example
-------
>>> import tempfile
>>> folder = tempfile.mkdtemp()
>>> with open(os.path.join(folder, "model.ckpt"), "wb") as fh:
...     _ = fh.write(b"weights")
>>> receipt = {"files": file_hashes(folder, ["model.ckpt"]), "previous_receipt": None}
>>> write_receipt(folder, receipt)
>>> verify(folder)
[]
>>> with open(os.path.join(folder, "model.ckpt"), "ab") as fh:
...     _ = fh.write(b"!")
>>> verify(folder)
['model.ckpt: SHA-256 differs from the receipt']
"""

import argparse
import hashlib
import os
import platform
import shutil
import sys
from importlib import metadata

from speechbrain_unlearn.io import read_json, sha256_file, write_json

#: The receipt's file name in every output folder.
RECEIPT = "unlearning_receipt.json"
#: The folder of earlier receipts of the chain.
CHAIN_FOLDER = "receipts"


def ids_sha256(ids):
    """The SHA-256 of the sorted IDs joined by newlines (``LC_ALL=C sort ids.txt | head -c -1 | sha256sum``)."""
    return hashlib.sha256("\n".join(sorted(ids)).encode()).hexdigest()


def forget_section(rows, hash_audio=True):
    """``forget``: the sorted IDs' hash and (``hash_audio``) the audio files' hash (see the module docstring)."""
    ids = sorted(r["ID"] for r in rows)
    section = {"n_utterances": len(ids), "ids_sha256": ids_sha256(ids)}
    files = list(dict.fromkeys(r["wav"] for r in sorted(rows, key=lambda r: r["ID"]))) if hash_audio else []
    audio = hashlib.sha256()
    for path in files:
        sha256_file(path, audio)
    section.update(audio_sha256=audio.hexdigest() if hash_audio else None, audio_files=files, ids=ids)
    return section


def file_hashes(folder, paths):
    """``{path: sha256}``, each path relative to ``folder`` where it lies inside it."""
    hashes = {}
    for path in paths:
        full = path if os.path.isabs(path) else os.path.join(folder, path)
        relative = os.path.relpath(full, folder)
        key = relative if not relative.startswith("..") else os.path.abspath(full)
        hashes[key] = sha256_file(full)
    return hashes


def versions():
    """Versions of Python and of the packages the result depends on."""
    found = {"python": platform.python_version()}
    for name in ("speechbrain-unlearn", "speechbrain", "torch", "torchaudio"):
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = None
    return found


def chain_previous(folder, previous_folder):
    """Continue the chain of ``previous_folder``'s receipt in ``folder``: its ``previous_receipt`` entry.

    Copies the earlier receipts (``receipts/``) and the previous receipt
    itself, named by its hash; ``None`` when ``previous_folder`` has no receipt.
    """
    previous = os.path.join(previous_folder, RECEIPT) if previous_folder else None
    if not previous or not os.path.exists(previous):
        return None
    chain = os.path.join(folder, CHAIN_FOLDER)
    os.makedirs(chain, exist_ok=True)
    old_chain = os.path.join(previous_folder, CHAIN_FOLDER)
    for name in sorted(os.listdir(old_chain)) if os.path.isdir(old_chain) else []:
        shutil.copyfile(os.path.join(old_chain, name), os.path.join(chain, name))
    digest = sha256_file(previous)
    name = f"{CHAIN_FOLDER}/{digest}.json"
    shutil.copyfile(previous, os.path.join(folder, name))
    return {"file": name, "sha256": digest}


def write_receipt(folder, receipt):
    """Write ``receipt`` as ``folder/unlearning_receipt.json`` (atomically)."""
    write_json(os.path.join(folder, RECEIPT), {"receipt": "speechbrain-unlearn/1", **receipt, "versions": versions()})


def verify(folder):
    """Every file and chain link of ``folder``'s receipt that does not match, in words (empty: all match)."""
    problems = []
    receipt_path = os.path.join(folder, RECEIPT)
    if not os.path.exists(receipt_path):
        return [f"{receipt_path}: no receipt"]
    receipt, where = read_json(receipt_path), RECEIPT
    problems += check_files(folder, receipt.get("files", {}))
    for hashes in (receipt.get("input_model") or {}).values():  # elsewhere: checked where still there
        problems += check_files(folder, {p: h for p, h in hashes.items() if os.path.exists(os.path.join(folder, p))})
    while True:  # earlier receipts vouch for other folders' files: only their links are checked here
        link = receipt.get("previous_receipt")
        if not link:
            return problems
        path = os.path.join(folder, link["file"])
        if not os.path.exists(path):
            return problems + [f"{where}: previous receipt {link['file']} is missing"]
        if sha256_file(path) != link["sha256"]:
            return problems + [f"{where} -> {link['file']}: the link's SHA-256 does not match that receipt"]
        receipt, where = read_json(path), link["file"]


def check_files(folder, hashes):
    """The files of ``hashes`` that are missing or whose bytes changed."""
    problems = []
    for path, expected in hashes.items():
        full = path if os.path.isabs(path) else os.path.join(folder, path)
        if not os.path.exists(full):
            problems.append(f"{path}: missing")
        elif sha256_file(full) != expected:
            problems.append(f"{path}: SHA-256 differs from the receipt")
    return problems


def main(argv=None):
    """``python -m speechbrain_unlearn.receipt verify <folder>``: exit 0 if everything matches, 1 if not."""
    parser = argparse.ArgumentParser(prog="python -m speechbrain_unlearn.receipt", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    check = sub.add_parser("verify", help="re-hash a folder's model files, manifests and receipt chain")
    check.add_argument("folder")
    args = parser.parse_args(argv)
    if not os.path.isdir(args.folder):
        print(f"error: {args.folder} is not a folder; pass a run or model folder with {RECEIPT}", file=sys.stderr)
        return 2
    problems = verify(args.folder)
    for problem in problems:
        print(f"mismatch: {problem}")
    if problems:
        return 1
    receipt = read_json(os.path.join(args.folder, RECEIPT))
    links = chain_length(args.folder, receipt)
    link_word = "chain link" if links == 1 else "chain links"
    print(f"ok: {len(receipt.get('files', {}))} files and {links} {link_word} match {args.folder}/{RECEIPT}")
    return 0


def chain_length(folder, receipt):
    """How many earlier receipts the chain of ``receipt`` links to."""
    count = 0
    while receipt.get("previous_receipt"):
        count += 1
        receipt = read_json(os.path.join(folder, receipt["previous_receipt"]["file"]))
    return count


if __name__ == "__main__":
    sys.exit(main())
