"""Weights of the linear models in `qa.ranking`, fitted by benchmarks/fit.py.

Generated from squad-v1.1-train-44.json (seed 13, 2500 questions per half);
do not edit by hand: run benchmarks/fit.py --write again.
"""

PASSAGE = {
    'dense': 2.9204,
    'best_sentence_dense': 4.1598,
    'bm25': 1.2923,
    'coverage': 2.7070,
    'best_sentence_overlap': 0.7853,
    'best_sentence_both': 5.0168,
}
PASSAGE_BIAS = 0.0

SENTENCE = {
    'dense': 4.0997,
    'dense_squared': 4.0132,
    'overlap': 4.1324,
    'pairs': 1.2081,
    'window_dense': 2.7310,
    'window_overlap': 4.3577,
    'answer_type': 1.6183,
}
SENTENCE_BIAS = 0.0
# Up to MAX_SENTENCES sentences: each runner-up joins the answer when its odds are at
# least SECOND_SENTENCE times the best's.
MAX_SENTENCES = 5
SECOND_SENTENCE = 0.2

EVIDENCE = {
    'dense': 11.0085,
    'pairs': 1.4578,
    'window_dense': 6.3824,
    'window_overlap': 3.5558,
    'coverage': 2.3216,
    'passage_dense': 2.2881,
    'names_in_sentence': 1.5762,
}
EVIDENCE_BIAS = -13.2049
# Abstain when the evidence model's probability that the store holds the answer is below this.
EVIDENCE_THRESHOLD = 0.4742
