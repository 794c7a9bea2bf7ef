"""Choose the test images to run: from the validation .lst (true classes known) or from an S3 prefix."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

from botocore.exceptions import ClientError

from ops.errors import ClassNamesError, NoTestImages
from ops.executions import TestImage

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")


def images_under_prefix(s3_client, bucket: str, prefix: str) -> list[TestImage]:
    """Every PNG/JPEG object under the prefix, in key order, true class unknown."""
    pages = s3_client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    images = [
        TestImage(bucket, entry["Key"])
        for page in pages
        for entry in page.get("Contents", [])
        if entry["Key"].lower().endswith(IMAGE_SUFFIXES)
    ]
    if not images:
        raise NoTestImages(f"no PNG or JPEG objects under s3://{bucket}/{prefix}")
    return images


def images_from_lst(
    s3_client, bucket: str, lst_key: str, prefix: str, class_names: Sequence[str]
) -> list[TestImage]:
    """The images a .lst names ("index TAB label TAB path under the split folder"), with true classes."""
    try:
        body = s3_client.get_object(Bucket=bucket, Key=lst_key)["Body"].read().decode("utf-8")
    except ClientError as error:
        raise NoTestImages(
            f"cannot read s3://{bucket}/{lst_key}: {error.response['Error']['Message']}"
        ) from error
    images = []
    for line_number, line in enumerate(body.splitlines(), start=1):
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) != 3 or not fields[1].strip().isdigit():
            raise NoTestImages(
                f"s3://{bucket}/{lst_key} line {line_number}: expected 'index TAB label TAB path'"
            )
        label = int(fields[1])
        if label >= len(class_names):
            raise ClassNamesError(
                f"s3://{bucket}/{lst_key} line {line_number}: "
                f"label {label} but only {len(class_names)} classes"
            )
        images.append(TestImage(bucket, prefix + fields[2].strip(), class_names[label]))
    if not images:
        raise NoTestImages(f"s3://{bucket}/{lst_key} lists no images")
    return images


def pick_images(images: Sequence[TestImage], limit: int | None) -> list[TestImage]:
    """At most `limit` images, taken in turn from each true class so every class is represented."""
    if limit is None:
        return list(images)
    by_class: dict[str | None, list[TestImage]] = {}
    for image in images:
        by_class.setdefault(image.true_class, []).append(image)
    interleaved = (
        image for group in itertools.zip_longest(*by_class.values()) for image in group if image is not None
    )
    return list(itertools.islice(interleaved, limit))
