"""benchmarks/jax_reference.py without JAX: its skip paths, its log parsing and its subprocess timing."""

import importlib.util
import sys
import textwrap

import pytest
from conftest import ROOT


def load_benchmark():
    spec = importlib.util.spec_from_file_location("jax_reference", ROOT / "benchmarks" / "jax_reference.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


# Captured from SAC_flow_gru_jax.py (learning starts 1000, log freq 30), with made-up (wall, cpu) stamps.
OFFICIAL_LOG = [
    (1.0, 0.5, "/venv/gymnasium/envs/registration.py:512: DeprecationWarning: WARN: Humanoid-v4 is out of date\n"),
    (9.0, 14.0, "!!================================================\n"),
    (9.0, 14.0, "Actor parameters: 923,045, Critic parameters: 2,917,926\n"),
    (9.0, 14.0, "!!================================================\n"),
    (10.0, 16.0, "SPS: 98\n"),  # step 1020: the first multiple of 30 after 1000
    (16.0, 20.0, "SPS: 60\n"),  # step 1050
    (22.5, 31.0, "SPS: 47\n"),  # step 1080
    (22.5, 31.0, "Episodes: 20, Recent 20 mean return: 101.33\n"),
    (28.0, 42.0, "SPS: 40\n"),  # step 1110
]


def test_skips_with_one_line_when_the_official_dir_is_absent(tmp_path, capsys):
    result = load_benchmark().main(["--official-dir", str(tmp_path / "no_such_dir")])
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1 and out[0].startswith("jax_reference: skipped: official scripts not found")
    assert "skipped" in result


def test_skips_with_one_line_when_jax_is_absent(tmp_path, capsys):
    if importlib.util.find_spec("jax") is not None:
        pytest.skip("JAX is importable here; the JAX-absent path cannot be exercised")
    for name in ("SAC_flow_gru_jax.py", "SAC_flow_transformer_jax.py"):
        (tmp_path / name).write_text("raise SystemExit('must not run')\n")
    result = load_benchmark().main(["--official-dir", str(tmp_path), "--official-python", sys.executable])
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1 and out[0].startswith("jax_reference: skipped: JAX (jax, flax, optax, tyro) is not importable")
    assert result["skipped"].startswith("JAX")


def test_official_log_gives_steps_time_and_cpu_of_the_window():
    bench = load_benchmark()
    marks = bench.official_marks(OFFICIAL_LOG, learning_starts=1000, log_every=30)
    assert [m[0] for m in marks] == [1020, 1050, 1080, 1110]
    ms, per_block = bench.window_ms(bench.marks_to_blocks(marks), 1050, 1110)
    assert ms == pytest.approx((28.0 - 16.0) / 60 * 1e3)  # 200 ms per env step
    assert per_block == pytest.approx([6.5 / 30 * 1e3, 5.5 / 30 * 1e3])
    assert bench.cpu_util(marks, 1050, 1110) == pytest.approx((42.0 - 20.0) / (28.0 - 16.0))
    assert bench.window_ms(bench.marks_to_blocks(marks), 1050, 1140) is None  # the run stopped early


def test_our_update_csv_gives_the_window_time(tmp_path):
    bench = load_benchmark()
    csv_path = tmp_path / "update.csv"
    csv_path.write_text(
        textwrap.dedent("""\
        step,losses/critic,time/sps
        1020,0.0,300.0
        1050,1.5,5.0
        1080,1.2,6.0
        1110,1.1,4.0
        """)
    )
    rows = bench.ours_rows(csv_path)
    assert rows[0] == (1020, 300.0)
    ms, per_block = bench.window_ms(bench.ours_blocks(rows), 1050, 1110)
    assert ms == pytest.approx((30 / 6.0 + 30 / 4.0) / 60 * 1e3)
    assert per_block == pytest.approx([1e3 / 6.0, 1e3 / 4.0])
    assert bench.window_ms(bench.ours_blocks(rows), 1040, 1110) is None  # 1040 is not a block edge


def test_a_real_subprocess_is_timed_from_its_sps_lines(tmp_path):
    bench = load_benchmark()
    script = tmp_path / "fake_official.py"  # prints like the official loop: one SPS line per block
    script.write_text("import time\nfor i in range(4):\n    time.sleep(0.3)\n    print(f'SPS: {i}')\n")
    a = bench.parse_args(["--learning-starts", "0", "--warmup", "3", "--window", "6", "--log-every", "3",
                          "--threads", "1"])  # fmt: skip
    run = bench.run_one(a, "official", [sys.executable, str(script)], bench.child_env(a, True), tmp_path, None)
    assert run.rc == 0 and run.error is None
    assert 0.6 / 6 * 1e3 * 0.9 < run.ms_per_step < 0.6 / 6 * 1e3 * 5  # two sleeps of 0.3 s over 6 steps
    assert len(run.block_ms) == 2 and run.cpu_util is not None and run.cpu_util < 0.5  # it mostly slept


def test_bad_window_is_stopped_at_the_door():
    with pytest.raises(SystemExit):
        load_benchmark().parse_args(["--window", "40", "--log-every", "30"])


def test_summary_is_the_median_of_paired_ratios_by_wall_and_cpu_time():
    bench = load_benchmark()
    run = lambda ms, util, contended=False: {"ms_per_step": ms, "cpu_util": util, "contended": contended}
    rounds = [
        {"runs": {"official": run(200.0, 0.5), "eager": run(300.0, 0.5), "compile": run(150.0, 0.8, True)}},
        # The second compile run produced no timed window: that pair drops out.
        {"runs": {"official": run(250.0, 1.0), "eager": run(200.0, 1.0), "compile": run(None, None)}},
    ]
    summary = bench.summarize(rounds, ["eager", "compile"])
    assert summary["eager"]["ratios"] == pytest.approx([1.5, 0.8])
    assert summary["eager"]["median"] == pytest.approx(1.15) and not summary["eager"]["meets_goal"]
    assert summary["eager"]["cpu_ratios"] == pytest.approx([150 / 100, 200 / 250])
    assert summary["compile"]["ratios"] == pytest.approx([0.75]) and summary["compile"]["meets_goal"]
    assert summary["compile"]["cpu_ratios"] == pytest.approx([120 / 100])
    assert summary["compile"]["contended_pairs"] == 1 and not summary["compile"]["inconclusive"]
