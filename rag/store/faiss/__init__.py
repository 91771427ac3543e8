"""The FAISS store: vectors, docstore and index struct in the data dir, swapped in whole."""
