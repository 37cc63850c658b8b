"""Weights of the linear models in `qa.ranking`, fitted by benchmarks/fit.py.

Generated from squad-v1.1-train-44.json (seed 13, 2500 questions per half);
do not edit by hand: run benchmarks/fit.py --write again.
"""

PASSAGE = {
    'dense': 4.0237,
    'best_sentence_dense': 3.9386,
    'bm25': 1.4015,
    'coverage': 2.9707,
    'best_sentence_overlap': 0.5533,
    'best_sentence_both': 4.3668,
}
PASSAGE_BIAS = 0.0

SENTENCE = {
    'dense': 2.9286,
    'dense_squared': 2.8574,
    'overlap': 3.2992,
    'pairs': 1.1846,
    'window_dense': 3.2262,
    'window_overlap': 4.6584,
    'answer_type': 1.6525,
}
SENTENCE_BIAS = 0.0
# Up to MAX_SENTENCES sentences: each runner-up joins the answer when its odds are at
# least SECOND_SENTENCE times the best's.
MAX_SENTENCES = 5
SECOND_SENTENCE = 0.2

EVIDENCE = {
    'dense': 12.0469,
    'pairs': 1.4206,
    'window_dense': 3.9201,
    'window_overlap': 3.1187,
    'coverage': 2.2943,
    'passage_dense': 5.3234,
    'names_in_sentence': 1.5510,
}
EVIDENCE_BIAS = -14.3140
# Abstain when the evidence model's probability that the store holds the answer is below this.
EVIDENCE_THRESHOLD = 0.5125
# The baseline abstainer (an ablation): abstain when no sentence's cosine reaches this,
# set the same way (at most 4% of training questions wrongly abstain).
COSINE_THRESHOLD = 0.4897
