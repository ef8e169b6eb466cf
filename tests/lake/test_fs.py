import pytest

from trajectory_assets.cli.main import main
from trajectory_assets.errors import SettingError
from trajectory_assets.ingest import EventLogger
from trajectory_assets.lake.fs import Lake


@pytest.mark.parametrize("root", ["", "  ", "s3://", "s3:///"])
def test_a_root_that_names_no_folder_is_refused(root: str) -> None:
    """An empty root was the current folder: a logger or a run wrote wherever it was started."""
    with pytest.raises(SettingError, match="names no folder: give a path or s3://bucket/prefix"):
        Lake(root)
    with pytest.raises(SettingError, match="names no folder"):
        EventLogger(lake=root, app_id="app")


def test_roots_that_name_a_folder_are_taken() -> None:
    assert Lake("s3://bucket/").root == "bucket"
    assert Lake("/").root == "/"


def test_the_command_line_names_an_empty_lake_option(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["tables", "--lake", ""]) == 1
    assert capsys.readouterr().err == (
        "error: the lake root '' names no folder: give a path or s3://bucket/prefix\n"
    )
