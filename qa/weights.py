"""Weights of the linear models in `qa.ranking`, fitted by benchmarks/fit.py.

Generated from squad-v1.1-train-44.json (seed 13, 2500 questions per half);
do not edit by hand: run benchmarks/fit.py --write again.
"""

PASSAGE = {
    'dense': 1.4368,
    'best_sentence_dense': 3.1097,
    'bm25': 0.4453,
    'coverage': 2.7152,
    'best_sentence_overlap': 0.9242,
    'best_sentence_both': 4.0103,
    'dense_rank': 1.8755,
    'bm25_rank': 0.7488,
}
PASSAGE_BIAS = 0.0

SENTENCE = {
    'dense': 4.7308,
    'overlap': 3.9218,
    'window_dense': 3.5850,
    'window_overlap': 4.6797,
    'answer_type': 1.6710,
    'new_words': -0.7418,
}
SENTENCE_BIAS = 0.0
# Up to MAX_SENTENCES sentences: each runner-up joins the answer when its odds are at
# least SECOND_SENTENCE times the best's.
MAX_SENTENCES = 3
SECOND_SENTENCE = 0.2

EVIDENCE = {
    'sentence_score': 1.0232,
    'dense': 1.9144,
    'overlap': -0.1799,
    'window_dense': 1.8623,
    'window_overlap': 0.2835,
    'unknown_terms': -0.7224,
    'rarest_term_found': -0.1239,
    'coverage': 0.3034,
    'passage_dense': 2.1467,
}
EVIDENCE_BIAS = -10.3123
# Abstain when the evidence model's probability that the store holds the answer is below this.
EVIDENCE_THRESHOLD = 0.5557
# The baseline abstainer (an ablation): abstain when no sentence's cosine reaches this,
# set the same way (at most 4% of training questions wrongly abstain).
COSINE_THRESHOLD = 0.4897
