"""``benign predict`` writes predictions.csv beside the checkpoint's run, and its accuracy is
``benign test``'s."""

from __future__ import annotations

import numpy as np
import pandas as pd

from tests.cli.helpers import run_benign
from tests.reliability.helpers import write_config
from tests.reliability.test_bad_inputs import EARLIER, EARLIER_NAME


def test_predict_writes_predictions_whose_accuracy_is_the_test_accuracy(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    config = write_config(tmp_path / "config.yaml", EARLIER, max_epochs=3, callbacks=[])
    assert run_benign(["fit", "--config", config, "--test_after_fit", "false"], monkeypatch) == 0
    run = tmp_path / "runs" / EARLIER_NAME
    ckpt = str(run / "checkpoints" / "last.ckpt")
    assert run_benign(["test", "--ckpt_path", ckpt], monkeypatch) == 0
    assert run_benign(["predict", "--ckpt_path", ckpt], monkeypatch) == 0

    predictions = pd.read_csv(run / "predict" / "predictions.csv")
    assert list(predictions.columns[:3]) == ["index", "label", "prediction"]
    assert predictions["index"].tolist() == list(range(540))  # every test point once, in order
    probabilities = predictions[[f"prob_{k}" for k in range(10)]].to_numpy()
    np.testing.assert_allclose(probabilities.sum(1), 1.0, atol=1e-4)
    assert (probabilities.argmax(1) == predictions["prediction"]).all()
    accuracy = (predictions["prediction"] == predictions["label"]).mean()
    tested = pd.read_csv(run / "test" / "metrics.csv")["test/acc"].dropna().iloc[-1]
    assert accuracy > 0.5  # a trained model, not chance
    assert abs(accuracy - tested) < 1e-6
