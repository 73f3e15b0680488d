"""Pooling, normalisation and head scores, and the model-folder reading that picks them."""

from __future__ import annotations

import json
import os
import tempfile
import unittest

import numpy as np

from ragline_embed_server.model_files import read_model_info
from ragline_embed_server.pooling import head_score, normalize, pool


class PoolingTest(unittest.TestCase):
    def setUp(self) -> None:
        self.hidden = np.arange(2 * 4 * 3, dtype=np.float32).reshape(2, 4, 3)

    def test_mean_counts_real_tokens_only(self) -> None:
        out = pool(self.hidden, [2, 4], "mean")
        np.testing.assert_allclose(out[0], self.hidden[0, :2].mean(axis=0))
        np.testing.assert_allclose(out[1], self.hidden[1].mean(axis=0))

    def test_cls_and_last_token(self) -> None:
        np.testing.assert_array_equal(pool(self.hidden, [2, 3], "cls"), self.hidden[:, 0])
        last = pool(self.hidden, [2, 3], "lasttoken")
        np.testing.assert_array_equal(last, np.stack([self.hidden[0, 1], self.hidden[1, 2]]))

    def test_normalize_gives_unit_rows_and_keeps_zero_rows(self) -> None:
        v = normalize(np.array([[3.0, 4.0], [0.0, 0.0]], dtype=np.float32))
        np.testing.assert_allclose(v, [[0.6, 0.8], [0.0, 0.0]], rtol=1e-6)

    def test_head_scores(self) -> None:
        self.assertAlmostEqual(head_score(np.array([0.0], np.float32), "sigmoid", 1, False), 0.5)
        self.assertAlmostEqual(head_score(np.array([2.5], np.float32), "sigmoid", 1, True), 2.5)
        two = np.array([0.0, np.log(3.0)], np.float32)
        self.assertAlmostEqual(head_score(two, "softmax", 1, False), 0.75, places=6)


class ModelFilesTest(unittest.TestCase):
    def folder(self, files: dict[str, object]) -> str:
        d = tempfile.mkdtemp()
        for name, content in files.items():
            os.makedirs(os.path.dirname(os.path.join(d, name)), exist_ok=True)
            with open(os.path.join(d, name), "w", encoding="utf-8") as f:
                json.dump(content, f)
        return d

    def test_sentence_transformers_configs_decide_pooling_window_and_normalisation(self) -> None:
        d = self.folder(
            {
                "config.json": {"model_type": "bert", "hidden_size": 384, "max_position_embeddings": 512},
                "1_Pooling/config.json": {"pooling_mode_cls_token": True},
                "modules.json": [{"type": "sentence_transformers.models.Normalize"}],
                "sentence_bert_config.json": {"max_seq_length": 256},
            }
        )
        info = read_model_info(d)
        self.assertEqual(
            (info.kind, info.pooling, info.normalize, info.max_input_length), ("embedding", "cls", True, 256)
        )

    def test_last_token_pooling_and_defaults(self) -> None:
        d = self.folder(
            {
                "config.json": {"model_type": "qwen3", "hidden_size": 1024, "max_position_embeddings": 32768},
                "1_Pooling/config.json": {"pooling_mode_lasttoken": True},
            }
        )
        info = read_model_info(d)
        self.assertEqual((info.pooling, info.normalize, info.max_input_length), ("lasttoken", False, 32768))

    def test_a_sequence_classifier_is_a_reranker_with_roberta_positions(self) -> None:
        d = self.folder(
            {
                "config.json": {
                    "model_type": "xlm-roberta",
                    "hidden_size": 768,
                    "max_position_embeddings": 514,
                    "architectures": ["XLMRobertaForSequenceClassification"],
                    "num_labels": 1,
                }
            }
        )
        info = read_model_info(d)
        self.assertEqual((info.kind, info.scoring, info.max_input_length), ("reranker", "sigmoid", 512))


if __name__ == "__main__":
    unittest.main()
