"""What a user is told when the lake's object store fails a request, however the failure came:
botocore's exceptions in the command's own process (`cli/main.py`) or Delta Lake's text in a
run's failure (`cli/outcome.py`). One wording per cause, so a refusal reads the same whichever
client met it, and a refusal is never said to pass with time."""

REFUSED_CREDENTIALS = {
    "AccessDenied",
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "InvalidToken",
    "ExpiredToken",
    "403",
}
"""Codes of S3's refusals of a request's credentials or their permissions."""


def store_message(said: str, *, code: str, refused: bool) -> str:
    """`said`: the client's own words; `code`: the store's error code where it gave one;
    `refused`: the request could not be made or was refused as asked (a 4xx other than 408
    and 429, credentials the client cannot use), which running again does not change."""
    from trajectory_assets.lake.fs import S3_ENDPOINT_URL_ENV  # fsspec: not at the CLI's start

    if code == "NoSuchBucket":
        return (
            f"the lake's bucket does not exist: {said} (create it, or correct the bucket in the "
            f"lake's s3:// URI; {S3_ENDPOINT_URL_ENV} names the store)"
        )
    if code in REFUSED_CREDENTIALS:
        return (
            f"the lake's store refused this access: {said} (check AWS_ACCESS_KEY_ID and "
            "AWS_SECRET_ACCESS_KEY, and that they may read and write the bucket)"
        )
    if refused:
        return (
            f"the lake's store cannot be used with these settings: {said} (check "
            "AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, the lake's s3:// URI and, for an "
            f"S3-compatible store, {S3_ENDPOINT_URL_ENV})"
        )
    return (
        f"the lake's store failed or does not answer: {said} (is the store up, and is "
        f"{S3_ENDPOINT_URL_ENV} its address? Once it works, run the same command again: it "
        "finishes what this run left)"
    )
