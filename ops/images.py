"""Choose the test images to run: from the validation .lst (true classes known) or from an S3 prefix."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

from botocore.exceptions import ClientError

from data_prep.errors import LstError, LstLabelError
from data_prep.lst import parse_lst
from ops.capture import object_keys
from ops.errors import ClassNamesError, OpsError
from ops.executions import TestImage

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")


def images_under_prefix(s3_client, bucket: str, prefix: str) -> list[TestImage]:
    images = [TestImage(bucket, key) for key in object_keys(s3_client, bucket, prefix, IMAGE_SUFFIXES)]
    if not images:
        raise OpsError(f"no PNG or JPEG objects under s3://{bucket}/{prefix}")
    return images


def images_from_lst(
    s3_client, bucket: str, lst_key: str, prefix: str, class_names: Sequence[str]
) -> list[TestImage]:
    """The images a .lst names ("index TAB label TAB path under the split folder"), with true classes."""
    source = f"s3://{bucket}/{lst_key}"
    try:
        body = s3_client.get_object(Bucket=bucket, Key=lst_key)["Body"].read().decode("utf-8")
    except ClientError as error:
        raise OpsError(f"cannot read {source}: {error.response['Error']['Message']}") from error
    except UnicodeDecodeError as error:
        raise OpsError(f"{source} is not UTF-8 text: {error}") from error
    try:
        entries = parse_lst(body, source=source, num_classes=len(class_names))
    except LstLabelError as error:
        raise ClassNamesError(str(error)) from error
    except LstError as error:
        raise OpsError(str(error)) from error
    images = [TestImage(bucket, prefix + entry.path, class_names[entry.label]) for entry in entries]
    if not images:
        raise OpsError(f"{source} lists no images")
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
