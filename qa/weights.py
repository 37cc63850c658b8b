"""Weights of the linear models in `qa.ranking`, fitted by benchmarks/fit.py.

Generated from squad-v1.1-train-44.json (seed 13, 2500 questions per half);
do not edit by hand: run benchmarks/fit.py --write again.
"""

PASSAGE = {
    'dense': 1.4401,
    'best_sentence_dense': 3.1115,
    'bm25': 0.4485,
    'coverage': 2.7220,
    'best_sentence_overlap': 0.9229,
    'best_sentence_both': 4.0118,
    'dense_rank': 1.8742,
    'bm25_rank': 0.7431,
}
PASSAGE_BIAS = 0.0

SENTENCE = {
    'dense': 4.5828,
    'overlap': 3.2697,
    'window_dense': 3.2169,
    'window_overlap': 4.8673,
    'answer_type': 1.6695,
    'new_words': -0.6176,
}
SENTENCE_BIAS = 0.0
# Up to MAX_SENTENCES sentences: each runner-up joins the answer when its odds are at
# least SECOND_SENTENCE times the best's.
MAX_SENTENCES = 3
SECOND_SENTENCE = 0.2

EVIDENCE = {
    'sentence_score': 1.0104,
    'dense': 1.9658,
    'overlap': -0.1541,
    'window_dense': 2.0009,
    'window_overlap': 0.4040,
    'unknown_terms': -0.7760,
    'rarest_term_found': -0.0917,
    'coverage': 0.4587,
    'passage_dense': 2.3099,
}
EVIDENCE_BIAS = -10.1876
# Abstain when the evidence model's probability that the store holds the answer is below this.
EVIDENCE_THRESHOLD = 0.5601
# The baseline abstainer (an ablation): abstain when no sentence's cosine reaches this,
# set the same way (at most 4% of training questions wrongly abstain).
COSINE_THRESHOLD = 0.4897
