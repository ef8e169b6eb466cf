"""A batch's receipt survives the trip through its JSON file (what a roll-forward reads)."""

from trajectory_assets.lake.staging import BatchReceipt


def test_a_receipt_reads_back_as_written_and_older_receipts_still_read() -> None:
    receipt = BatchReceipt(
        operator="sessionize",
        batch_id="b0001",
        day="2026-11-18",
        files=(),
        input_rows=3,
        skipped_files=(("raw_events/a.parquet", "cannot be read"),),
        unknown_columns=(("raw_events/b.parquet", "input_token"),),
        audit=(("n_events", 3),),
        worker="host:1",
    )
    assert BatchReceipt.from_json(receipt.to_json()) == receipt
    older = receipt.to_json().replace(
        ', "unknown_columns": [["raw_events/b.parquet", "input_token"]]', ""
    )
    assert "unknown_columns" not in older
    assert BatchReceipt.from_json(older).unknown_columns == ()
