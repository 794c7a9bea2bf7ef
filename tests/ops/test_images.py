import pytest

from ops.errors import ClassNamesError, OpsError
from ops.executions import TestImage
from ops.images import images_from_lst, images_under_prefix, pick_images
from tests.ops.builders import PNG_BYTES

CLASSES = ["bicycle", "motorcycle"]
LST_KEY = "dataset/validation_lst/validation.lst"


def test_images_from_lst_name_their_key_under_the_prefix_and_their_true_class(s3, bucket):
    s3.put_object(
        Bucket=bucket, Key=LST_KEY, Body=b"0\t1\tmotorbike_s_000009.png\n1\t0\tbike_s_000017.png\n\n"
    )

    images = images_from_lst(s3, bucket, LST_KEY, "dataset/validation/", CLASSES)

    assert images == [
        TestImage(bucket, "dataset/validation/motorbike_s_000009.png", "motorcycle"),
        TestImage(bucket, "dataset/validation/bike_s_000017.png", "bicycle"),
    ]


@pytest.mark.parametrize(
    ("lst", "error", "message"),
    [
        (b"0\tbike.png\n", OpsError, "line 1: expected 'index TAB label TAB path'"),
        (b"0\t0\ta.png\n1\t7\tb.png\n", ClassNamesError, "line 2: label 7 but only 2 classes"),
        (b"\n", OpsError, "lists no images"),
        (b"0\t0\t../../other/a.png\n", OpsError, "line 1: '../../other/a.png' is not a path inside"),
        (b"0\t0\t\xff.png\n", OpsError, "is not UTF-8 text"),
    ],
)
def test_a_bad_lst_is_a_named_error_with_its_line(s3, bucket, lst, error, message):
    s3.put_object(Bucket=bucket, Key=LST_KEY, Body=lst)

    with pytest.raises(error, match=message):
        images_from_lst(s3, bucket, LST_KEY, "dataset/validation/", CLASSES)


def test_a_missing_lst_is_a_named_error(s3, bucket):
    with pytest.raises(OpsError, match=f"cannot read s3://{bucket}/{LST_KEY}"):
        images_from_lst(s3, bucket, LST_KEY, "dataset/validation/", CLASSES)


def test_images_under_prefix_are_the_png_and_jpeg_objects_in_key_order(s3, bucket):
    for key in [
        "dataset/validation/b.PNG",
        "dataset/validation/a.jpg",
        "dataset/validation/notes.txt",
        "other/c.png",
    ]:
        s3.put_object(Bucket=bucket, Key=key, Body=PNG_BYTES)

    assert images_under_prefix(s3, bucket, "dataset/validation/") == [
        TestImage(bucket, "dataset/validation/a.jpg"),
        TestImage(bucket, "dataset/validation/b.PNG"),
    ]


def test_an_empty_prefix_is_a_named_error(s3, bucket):
    with pytest.raises(OpsError, match=f"no PNG or JPEG objects under s3://{bucket}/dataset/validation/"):
        images_under_prefix(s3, bucket, "dataset/validation/")


def test_pick_images_takes_classes_in_turn_up_to_the_limit():
    bikes = [TestImage("any-bucket", f"bike{i}.png", "bicycle") for i in range(3)]
    motorbikes = [TestImage("any-bucket", f"motorbike{i}.png", "motorcycle") for i in range(2)]

    picked = pick_images(bikes + motorbikes, 4)

    assert [image.key for image in picked] == ["bike0.png", "motorbike0.png", "bike1.png", "motorbike1.png"]
    assert pick_images(bikes + motorbikes, None) == bikes + motorbikes
    assert pick_images(bikes, 10) == bikes
