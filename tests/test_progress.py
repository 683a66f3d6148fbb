from sacflow.logging.progress import Progress


def test_progress_shows_position_rate_and_postfix(capsys):
    progress = Progress(total=100, initial=10)
    progress.update(5, critic_loss=0.25)
    progress.close()
    err = capsys.readouterr().err
    assert "15.0/100" in err and "step/s" in err and "critic_loss=0.25" in err


def test_disabled_progress_prints_nothing(capsys):
    progress = Progress(total=100, disable=True)
    progress.update(50, critic_loss=0.25)
    progress.close()
    assert capsys.readouterr().err == ""
