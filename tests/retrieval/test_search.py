import json
import math

import pytest

from adaptlab.errors import UserError
from adaptlab.retrieval.metrics import (
    LabeledQuery, doc_id_matcher, evaluate_retrieval, ndcg_at_k, read_labeled_queries, recall_at_k,
    reciprocal_rank, score_rankings, unique_docs,
)  # fmt: skip
from adaptlab.retrieval.search import open_searcher, reciprocal_rank_fusion


def test_reciprocal_rank_fusion_by_hand():
    fused = reciprocal_rank_fusion([[1, 2, 3], [3, 1]], k=60)
    assert [item for item, _ in fused] == [1, 3, 2]
    assert fused[0][1] == pytest.approx(1 / 61 + 1 / 62) and fused[1][1] == pytest.approx(1 / 61 + 1 / 63)
    assert fused[2][1] == pytest.approx(1 / 62)
    assert [i for i, _ in reciprocal_rank_fusion([[7, 8], [8, 7]])] == [7, 8]  # a tie keeps first-seen order


def test_metrics_by_hand():
    ranked = unique_docs(["b", "a", "c", "a", "d"])  # chunk-level doc ids -> each document once
    assert ranked == ["b", "a", "c", "d"]
    one, two, none = frozenset("a"), frozenset("ad"), frozenset("z")
    assert (recall_at_k(ranked, one, 1), recall_at_k(ranked, one, 5)) == (0.0, 1.0)
    assert (recall_at_k(ranked, two, 2), recall_at_k(ranked, two, 5)) == (0.5, 1.0)
    assert reciprocal_rank(ranked, one) == 0.5 and reciprocal_rank(ranked, none) == 0.0
    assert ndcg_at_k(ranked, one, 10) == pytest.approx(1 / math.log2(3))  # 0.6309
    assert ndcg_at_k(ranked, two, 10) == pytest.approx((1 / math.log2(3) + 1 / math.log2(5)) / (1 + 1 / math.log2(3)))
    assert ndcg_at_k(ranked, two, 2) == pytest.approx((1 / math.log2(3)) / (1 + 1 / math.log2(3)))
    scores = score_rankings([ranked, ranked, ["a"]], [one, none, one])
    assert scores["recall@1"] == pytest.approx(1 / 3) and scores["recall@5"] == pytest.approx(2 / 3)
    assert scores["mrr"] == pytest.approx((0.5 + 0 + 1) / 3)
    assert scores["ndcg@10"] == pytest.approx((1 / math.log2(3) + 0 + 1) / 3)


def test_labels_match_indexed_ids_by_file_name(tmp_path):
    match = doc_id_matcher(["docs/compound-0001.txt", "a/x.md", "b/x.md", "data.jsonl:3"])
    assert match("compound-0001") == "docs/compound-0001.txt" and match("data.jsonl:3") == "data.jsonl:3"
    assert match("x") is None and match("data") is None  # two files named x; a JSONL line is not a file
    path = tmp_path / "q.jsonl"
    path.write_text(json.dumps({"question": "q?", "doc_id": ["compound-0001", "a/x.md"]}) + "\n")
    assert read_labeled_queries(path, ["docs/compound-0001.txt", "a/x.md"]) == [
        LabeledQuery("q?", frozenset({"docs/compound-0001.txt", "a/x.md"}))]
    path.write_text(json.dumps({"question": "q?", "doc_id": "gene-0009"}) + "\n")
    with pytest.raises(UserError, match=r"q.jsonl:1: doc_id 'gene-0009' matches no document in the index"):
        read_labeled_queries(path, ["docs/compound-0001.txt"])
    path.write_text(json.dumps({"text": "no question"}) + "\n")
    with pytest.raises(UserError, match="q.jsonl:1: expected a string 'question'"):
        read_labeled_queries(path, [])


def test_every_mode_finds_the_gold_document(real_index, small_domain):
    searcher = open_searcher(real_index)  # with the model the index names
    queries = read_labeled_queries(small_domain / "qa_eval.jsonl", searcher.index.hashes)
    results = {mode: evaluate_retrieval(searcher, queries, mode) for mode in ("bm25", "dense", "hybrid")}
    for mode, metrics in results.items():
        assert metrics["recall@10"] >= 0.9, (mode, metrics)
    assert results["hybrid"]["recall@5"] >= max(results["bm25"]["recall@5"], results["dense"]["recall@5"]) - 0.05
    questions = [q.question for q in queries]
    lexical, dense, hybrid = (searcher.search(questions, k=3, mode=m) for m in ("bm25", "dense", "hybrid"))
    agreed = next(i for i in range(len(questions)) if lexical[i][0].chunk == dense[i][0].chunk)
    top = hybrid[agreed][0]
    assert len(hybrid[agreed]) == 3 and top.chunk == dense[agreed][0].chunk
    assert top.score == pytest.approx(2 / 61)  # first in both rankings: 1/(60+1) twice
    assert top.text in (small_domain / "docs" / top.doc_id.split("/")[-1]).read_text()
    assert searcher.search(["zzzz qqqq"], k=3, mode="bm25") == [[]]  # no shared term, no BM25 hit
    with pytest.raises(UserError, match="unknown search mode 'sparse'; accepted: bm25, dense, hybrid"):
        searcher.search(["x"], mode="sparse")
