"""`attain run` over a folder whose broker state is gone starts a fresh demo (fresh database) and says so."""

from attain.embedded.stack import start_fresh_demo


def test_a_second_demo_run_sets_the_old_database_aside_and_says_so(tmp_path):
    assert start_fresh_demo(tmp_path) is None  # a first run: nothing to set aside
    (tmp_path / "pgdata").mkdir()
    (tmp_path / "pgdata" / "PG_VERSION").write_text("18\n")
    (tmp_path / "calculator").mkdir()
    note = start_fresh_demo(tmp_path)
    assert note is not None and "fresh database" in note and "gone" in note
    assert not (tmp_path / "pgdata").exists() and not (tmp_path / "calculator").exists()
    assert (tmp_path / "pgdata.previous" / "PG_VERSION").read_text() == "18\n"
    (tmp_path / "pgdata").mkdir()
    assert start_fresh_demo(tmp_path) is not None  # a third run replaces the older copy
    assert not (tmp_path / "pgdata.previous" / "PG_VERSION").exists()
