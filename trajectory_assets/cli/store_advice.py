"""What a user is told when the lake's object store fails a request, however the failure came:
botocore's exceptions in the command's own process (`cli/main.py`) or Delta Lake's text in a
run's failure (`cli/outcome.py`). One wording per cause, so a refusal reads the same whichever
client met it, and a refusal is never said to pass with time."""

import re

REFUSED_CREDENTIALS = {
    "AccessDenied",
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "InvalidToken",
    "ExpiredToken",
    "403",
}
"""Codes of S3's refusals of a request's credentials or their permissions."""


STORE_FAILED = re.compile(r"Generic S3 error|Error performing \w+ request|error sending request")
"""How Delta Lake's object store client says a request failed, after its retries."""


def delta_store_message(said: str) -> str | None:
    """Delta Lake's words of a request its object store client failed (None: no such words):
    the store's code and HTTP status are in the text."""
    if not STORE_FAILED.search(said):
        return None
    code = re.search(r"<Code>(\w+)</Code>", said)
    status = re.search(r"status code: (\d{3})", said) or re.search(r"\b(4\d\d) [A-Z][a-z]", said)
    refused = bool(
        status and status.group(1).startswith("4") and status.group(1) not in ("408", "429")
    )
    return store_message(said, code=code.group(1) if code else "", refused=refused)


def botocore_message(exc: BaseException) -> str:
    """botocore's exception of a request: a connection refused or unanswered, a timeout and a
    store's 5xx pass with time; anything else is the settings' (checking the credentials of a
    store that does not answer would send the user the wrong way)."""
    from botocore import exceptions

    response = getattr(exc, "response", None) or {}
    code = str(response.get("Error", {}).get("Code", ""))
    status = int(response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
    no_answer = isinstance(exc, exceptions.ConnectionError | exceptions.HTTPClientError)
    outage = no_answer or status >= 500 or status in (408, 429)
    return store_message(str(exc), code=code, refused=not outage)


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
