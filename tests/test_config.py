import dataclasses
import os

import pytest

from curate.core import config
from curate.core.errors import ConfigError
from curate.filters.length import Length
from tests.conftest import LENGTH, curate


@dataclasses.dataclass(frozen=True)
class PCfg:
    dump: str = ""
    rate: float = 0.5
    langs: list[str] = dataclasses.field(default_factory=lambda: ["en"])
    length: Length = Length()


def test_defaults_file_flags_and_sets_compose(tmp_path):
    f = tmp_path / "run.toml"
    f.write_text('[run]\nworkers = 3\n[length]\nmin_words = 10\n[spark.conf]\n"spark.x" = "1"\n')
    cfg = config.load(
        PCfg, str(f), {"run.output": "out"},
        ["length.max_words=20", "rate=1", "langs=en,de", "dump=2024", "run.engine=ray"],
    )
    assert cfg.run.workers == 3 and cfg.run.output == "out" and cfg.run.engine == "ray"
    assert cfg.pipeline.length == Length(min_words=10, max_words=20)
    assert cfg.pipeline.rate == 1.0 and isinstance(cfg.pipeline.rate, float)
    assert cfg.pipeline.langs == ["en", "de"]
    assert cfg.pipeline.dump == "2024"
    assert cfg.spark.conf == {"spark.x": "1"}


@pytest.mark.parametrize(
    "sets, message",
    [
        (["length.min_wrds=3"], "unknown config key 'length.min_wrds'"),
        (["nosuch=3"], "unknown config key 'nosuch'"),
        (["run.wrkers=3"], "unknown config key 'run.wrkers'"),
        (["length.min_words=many"], "config key 'length.min_words' expects int, got 'many'"),
        (["rate=fast"], "config key 'rate' expects float"),
        (["run.engine=flink"], "run.engine must be one of local, ray, spark"),
        (["length.max_words=10"], "min_words <= max_words"),
        (["novalue"], "--set expects key=value"),
    ],
)
def test_bad_overrides_name_the_key(sets, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(".", r"\.")):
        config.load(PCfg, None, {}, sets)


def test_bad_file_values(tmp_path):
    f = tmp_path / "bad.toml"
    f.write_text("[length]\nmin_words = 'ten'\n")
    with pytest.raises(ConfigError, match="'length.min_words' expects int, got str 'ten'"):
        config.load(PCfg, str(f))
    f.write_text("[length\nmin_words = 1\n")
    with pytest.raises(ConfigError, match="is not valid TOML"):
        config.load(PCfg, str(f))
    f.write_text("[typo]\nx = 1\n")
    with pytest.raises(ConfigError, match="unknown config key 'typo'"):
        config.load(PCfg, str(f))
    with pytest.raises(ConfigError, match="does not exist"):
        config.load(PCfg, str(tmp_path / "missing.toml"))


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--set", "length.min_wrds=3"], "unknown config key 'length.min_wrds'"),
        (["--set", "length.min_words=abc"], "'length.min_words' expects int, got 'abc'"),
        (["--config", "{bad}"], "is not valid TOML"),
        (["--input", "/nonexistent/*.parquet"], "input '/nonexistent/*.parquet' matches no"),
    ],
)
def test_cli_config_errors_exit_2_before_work(sample_dir, tmp_path, extra, message):
    bad = tmp_path / "bad.toml"
    bad.write_text("[run\n")
    extra = [str(bad) if a == "{bad}" else a for a in extra]
    out = tmp_path / "run"
    args = ["run", LENGTH, "--output", str(out)]
    if "--input" not in extra:
        args += ["--input", sample_dir]
    res = curate(*args, *extra)
    assert res.returncode == 2, res.stderr
    assert message in res.stderr
    assert not out.exists(), "a config error must fail before any work starts"


def test_cli_usage_errors(tmp_path):
    assert curate("run", LENGTH, "--engine", "flink").returncode == 2
    res = curate("run", LENGTH, "--input", "x")
    assert res.returncode == 2 and "no output directory" in res.stderr
    res = curate("run", str(tmp_path / "nope.py"), "--input", "x", "--output", "y")
    assert res.returncode == 2 and "does not exist" in res.stderr
    assert not os.path.exists("y")
