"""Retrieval: chunking, embeddings, a persistent index, lexical/dense/hybrid search, RAG as an LM."""
