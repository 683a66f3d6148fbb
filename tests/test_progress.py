from sacflow.logging.progress import Progress, status_of


def test_progress_shows_position_rate_and_status(capsys):
    progress = Progress(total=100, initial=10, status=lambda: {"last_ep": "12"})
    progress.update(5)
    progress.close()
    err = capsys.readouterr().err
    assert "15.0/100" in err and "step/s" in err and "last_ep=12" in err


def test_disabled_progress_prints_nothing(capsys):
    progress = Progress(total=100, disable=True, status=lambda: {"last_ep": "12"})
    progress.update(50)
    progress.close()
    assert capsys.readouterr().err == ""


def test_status_shows_the_last_episode_and_the_first_eval_metric_a_run_has():
    assert status_of({}) == {}
    latest = {"train/episode_return": 812.4, "eval/return_det": 1000.0, "eval/return_stoch": 950.0, "step/eval": 4000}
    assert status_of(latest) == {"last_ep": "812", "eval": "1000@4000"}
    assert status_of({"eval/success": 0.625, "eval/return": -40.0, "step/eval": 50}) == {"eval": "0.62@50"}
