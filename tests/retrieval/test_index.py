import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import faiss
import pytest

from adaptlab.corpus.documents import Document
from adaptlab.errors import UserError
from adaptlab.retrieval.chunking import ChunkSettings
from adaptlab.retrieval.index import (
    MANIFEST, delete_documents, open_index, sync_index, upsert_documents,
)  # fmt: skip
from retrieval.fakes import HashEmbedder

TESTS = Path(__file__).resolve().parents[1]


def test_reindexing_embeds_only_what_changed(tmp_path, small_docs):
    emb = HashEmbedder()
    first = sync_index(tmp_path / "ix", small_docs, emb)
    assert (first.added, first.chunks_embedded, first.documents) == (len(small_docs), emb.embedded, len(small_docs))
    index = open_index(tmp_path / "ix", emb)
    assert index.vectors.ntotal == len(index.chunks) == first.chunks == len(index.bm25_ids)

    emb.embedded = 0
    again = sync_index(tmp_path / "ix", small_docs, emb)
    assert (again.unchanged, again.chunks_embedded, emb.embedded) == (len(small_docs), 0, 0)

    edited = Document(small_docs[0].id, small_docs[0].text + "\n\nA new closing remark about Zorblaxine.")
    corpus = [edited, *small_docs[2:], Document("docs/new.txt", "Quibbler is a brand new compound.")]
    report = sync_index(tmp_path / "ix", corpus, emb)
    assert (report.added, report.updated, report.deleted, report.unchanged) == (1, 1, 1, len(small_docs) - 2)
    index = open_index(tmp_path / "ix", emb)
    n_new = sum(c.doc_id in (edited.id, "docs/new.txt") for c in index.chunks.values())
    assert report.chunks_embedded == emb.embedded == n_new
    assert small_docs[1].id not in {c.doc_id for c in index.chunks.values()} | set(index.hashes)
    assert sorted(faiss.vector_to_array(index.vectors.id_map)) == sorted(index.chunks)
    assert any("Zorblaxine" in c.text for c in index.chunks.values() if c.doc_id == edited.id)
    assert [p.name for p in (tmp_path / "ix").iterdir() if p.name.startswith("gen-")] == ["gen-000002"]


def test_upsert_delete_and_chunking_changes(tmp_path, small_docs):
    emb = HashEmbedder()
    sync_index(tmp_path / "ix", small_docs[:3], emb, ChunkSettings(64, 8))
    report = upsert_documents(tmp_path / "ix", [Document("extra", "One more document about Quibbler.")], emb)
    assert (report.added, report.documents) == (1, 4)
    report = delete_documents(tmp_path / "ix", ["extra", small_docs[0].id], emb)
    assert (report.deleted, report.documents, report.chunks_embedded) == (2, 2, 0)
    assert {c.doc_id for c in open_index(tmp_path / "ix").chunks.values()} == {d.id for d in small_docs[1:3]}
    with pytest.raises(UserError, match="no document 'nope' in the index"):
        delete_documents(tmp_path / "ix", ["nope"], emb)
    # Other chunking settings re-chunk and re-embed everything; omitted, the index keeps its own.
    report = sync_index(tmp_path / "ix", small_docs[1:3], emb, ChunkSettings(32, 8))
    assert report.updated == 2 and open_index(tmp_path / "ix").info.chunking == ChunkSettings(32, 8)
    assert sync_index(tmp_path / "ix", small_docs[1:3], emb).chunks_embedded == 0


def test_bad_paths_and_inputs_are_one_line_errors(tmp_path, small_docs):
    emb = HashEmbedder()
    with pytest.raises(UserError, match=f"no index at {tmp_path / 'missing'}; build one with `adaptlab rag index`"):
        open_index(tmp_path / "missing")
    with pytest.raises(UserError, match="no documents to index"):
        sync_index(tmp_path / "ix", [], emb)
    with pytest.raises(UserError, match="every document is blank"):
        sync_index(tmp_path / "ix", [Document("a", "  \n")], emb)
    with pytest.raises(UserError, match="occurs twice"):
        sync_index(tmp_path / "ix", [small_docs[0], small_docs[0]], emb)
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "mine.txt").write_text("keep me")
    with pytest.raises(UserError, match="folder is not empty and holds no index"):
        sync_index(tmp_path / "notes", small_docs, emb)
    sync_index(tmp_path / "ix", small_docs[:2], emb)
    with pytest.raises(UserError, match="built with embedding model 'hash-words', not 'other-model'"):
        open_index(tmp_path / "ix", HashEmbedder("other-model"))
    with pytest.raises(UserError, match="built with embedding model"):
        sync_index(tmp_path / "ix", small_docs, HashEmbedder("other-model"))


def _update_in_subprocess(index: Path, docs: Path, *, pause: float, announce: Path, kill_before_manifest: bool):
    """Start an update of `index` to the documents in `docs` (JSONL) in a child process."""
    script = f"""
import os, signal
from pathlib import Path
from adaptlab.corpus.documents import read_documents
from adaptlab.retrieval import index
from retrieval.fakes import HashEmbedder
if {kill_before_manifest}:
    index._write_manifest = lambda *a: os.kill(os.getpid(), signal.SIGKILL)
emb = HashEmbedder(pause={pause}, announce=Path({str(announce)!r}))
index.sync_index(Path({str(index)!r}), list(read_documents(Path({str(docs)!r}))), emb)
"""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")])}
    return subprocess.Popen([sys.executable, "-c", script], env=env)


@pytest.mark.parametrize("where", ["while embedding", "before the manifest switch"])
def test_a_killed_update_leaves_the_previous_index_loadable(tmp_path, small_docs, where):
    from adaptlab.corpus.documents import write_documents

    emb = HashEmbedder()
    sync_index(tmp_path / "ix", small_docs[:4], emb)
    before = open_index(tmp_path / "ix", emb)
    write_documents(tmp_path / "next.jsonl", small_docs)  # 14 more documents to add
    announce = tmp_path / "embedding"
    embedding = where == "while embedding"
    child = _update_in_subprocess(tmp_path / "ix", tmp_path / "next.jsonl", pause=30.0 if embedding else 0.0,
                                  announce=announce, kill_before_manifest=not embedding)
    if embedding:
        deadline = time.monotonic() + 60
        while not announce.exists() and child.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert announce.exists(), "the update never reached the embedder"
        child.send_signal(signal.SIGKILL)
    assert child.wait(timeout=60) == -signal.SIGKILL
    if not embedding:  # the new generation was written in full, but the manifest never pointed at it
        assert (tmp_path / "ix" / "gen-000002" / "bm25").is_dir()

    after = open_index(tmp_path / "ix", emb)
    assert after.info == before.info and after.chunks == before.chunks and after.hashes == before.hashes
    assert json.loads((tmp_path / "ix" / MANIFEST).read_text())["generation"] == 1
    # The next update finishes the job and clears what the killed one left behind.
    report = sync_index(tmp_path / "ix", small_docs, emb)
    assert (report.added, report.unchanged) == (len(small_docs) - 4, 4)
    assert sorted(p.name for p in (tmp_path / "ix").iterdir()) == ["gen-000002", MANIFEST]
