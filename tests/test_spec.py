"""The hand-written spec: its structure, its examples, and every request constraint at its limit."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from evolink_images.testing.payloads import MISSING, error_json, qwen_body, task_json, wan_body
from evolink_images.testing.spec import iter_refs, load_spec, resolve_pointer, schema_validator

Body = dict[str, Any]

ERROR_STATUSES = {
    # api-facts.md section 4.1: 404 only where a task is named, 413 only where a body is sent.
    ("post", "/v1/images/generations"): {"400", "401", "402", "403", "413", "429", "500", "502", "503"},
    ("get", "/v1/tasks/{task_id}"): {"400", "401", "402", "403", "404", "429", "500", "502", "503"},
}
MODELS = {"wan2.5-image-to-image": "WanImageToImageRequest", "qwen-image-edit": "QwenImageEditRequest"}


def request_is_valid(body: Body) -> bool:
    return bool(schema_validator("ImageEditRequest").is_valid(body))


def test_every_ref_and_discriminator_target_resolves() -> None:
    spec = load_spec()
    refs = list(iter_refs(spec))
    assert len(refs) > 20, "the walk found too few references to be reading the spec"
    for where, target in refs:
        resolve_pointer(spec, target)  # raises KeyError, naming the reference, when it dangles
        assert target.startswith("#/"), f"{where}: only local references are used"


def test_resolve_pointer_rejects_a_dangling_reference() -> None:
    with pytest.raises(KeyError, match="NoSuchSchema"):
        resolve_pointer(load_spec(), "#/components/schemas/NoSuchSchema")


def test_each_request_variant_pins_its_model_with_const_and_the_discriminator_maps_to_it() -> None:
    schemas = load_spec()["components"]["schemas"]
    union = schemas["ImageEditRequest"]
    assert union["discriminator"]["propertyName"] == "model"
    mapping = union["discriminator"]["mapping"]
    assert {name: ref.rsplit("/", 1)[1] for name, ref in mapping.items()} == MODELS
    assert [variant["$ref"] for variant in union["oneOf"]] == sorted(mapping.values(), reverse=True)
    for model, component in MODELS.items():
        schema = schemas[component]
        assert schema["properties"]["model"]["const"] == model
        assert schema["additionalProperties"] is False
        assert set(schema["required"]) == {"model", "prompt", "image_urls"}


@pytest.mark.parametrize(("method", "path"), sorted(ERROR_STATUSES))
def test_every_documented_error_status_has_the_error_body(method: str, path: str) -> None:
    operation = load_spec()["paths"][path][method]
    responses = operation["responses"]
    assert set(responses) - {"200"} == ERROR_STATUSES[(method, path)]
    for status in ERROR_STATUSES[(method, path)]:
        response = resolve_pointer(load_spec(), responses[status]["$ref"])
        assert response["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/ErrorResponse"}
        assert schema_validator("ErrorResponse").is_valid(response["content"]["application/json"]["example"])


def test_every_operation_has_an_operation_id_a_tag_and_bearer_auth() -> None:
    spec = load_spec()
    assert spec["security"] == [{"bearerAuth": []}]
    assert spec["components"]["securitySchemes"]["bearerAuth"] == {
        "type": "http",
        "scheme": "bearer",
        "description": spec["components"]["securitySchemes"]["bearerAuth"]["description"],
    }
    operations = [op for item in spec["paths"].values() for key, op in item.items() if key != "servers"]
    ids = [op["operationId"] for op in operations]
    assert ids == [
        "createImageTask",
        "getTask",
        "uploadFileStream",
        "uploadFileBase64",
        "uploadFileUrl",
        "getFileQuota",
    ]
    assert all(op["tags"] and "security" not in op for op in operations)  # the one key, everywhere


def test_the_request_examples_validate_and_cover_both_models() -> None:
    media = load_spec()["paths"]["/v1/images/generations"]["post"]["requestBody"]["content"]["application/json"]
    examples = [example["value"] for example in media["examples"].values()]
    assert sorted(example["model"] for example in examples) == sorted(MODELS)
    for example in examples:
        assert example["image_urls"], "unlike the vendor's, every example carries image_urls"
        schema_validator(MODELS[example["model"]]).validate(example)
        schema_validator("ImageEditRequest").validate(example)


def test_the_task_examples_validate() -> None:
    spec = load_spec()
    statuses = set()
    for name, example in spec["components"]["examples"].items():
        schema_validator("Task").validate(example["value"])
        statuses.add(example["value"]["status"])
        assert name.startswith("Task")
    assert statuses == {"pending", "processing", "completed", "failed"}


# Each row: (description, body, valid?). Every limit is tried at the limit and one step past it.
PROMPT_CASES: list[tuple[str, Body, bool]] = [
    ("prompt of 1 character", {"prompt": "x"}, True),
    ("empty prompt", {"prompt": ""}, False),
    ("prompt of 2000 characters", {"prompt": "x" * 2000}, True),
    ("prompt of 2001 characters", {"prompt": "x" * 2001}, False),
    ("prompt of 2000 code points beyond the BMP", {"prompt": "\U0001f600" * 2000}, True),
    ("prompt of 2001 code points beyond the BMP", {"prompt": "\U0001f600" * 2001}, False),
    ("prompt that is not a string", {"prompt": 5}, False),
    ("no prompt", {"prompt": MISSING}, False),
]
URL_CASES = [
    ("https URL", "https://example.com/a.png", True),
    ("http URL", "http://example.com/a.png", True),
    ("upper-case scheme", "HTTPS://example.com/a.png", True),
    ("URL with port, query and fragment", "https://example.com:8443/a.png?x=1#f", True),
    ("bare host", "https://example.com", True),
    ("ftp URL", "ftp://example.com/a.png", False),
    ("data URL", "data:image/png;base64,AAAA", False),
    ("relative URL", "/images/a.png", False),
    ("scheme without host", "https:///a.png", False),
    ("URL with a space", "https://example.com/a b.png", False),
    ("empty string", "", False),
]


def _cases(factory: Callable[..., Body], limit: int, n_ok: bool) -> list[Any]:
    rows: list[tuple[str, Body, bool]] = [(desc, factory(**over), ok) for desc, over, ok in PROMPT_CASES]
    rows += [(f"image_urls with one {desc}", factory(image_urls=[url]), ok) for desc, url, ok in URL_CASES]
    url = "https://example.com/i.png"
    rows += [
        ("no image_urls", factory(image_urls=MISSING), False),
        ("empty image_urls", factory(image_urls=[]), False),
        (f"{limit} image_urls", factory(image_urls=[url] * limit), True),
        (f"{limit + 1} image_urls", factory(image_urls=[url] * (limit + 1)), False),
        ("image_urls as a string", factory(image_urls=url), False),
        ("callback_url over https", factory(callback_url="https://example.com/hook"), True),
        ("callback_url over http", factory(callback_url="http://example.com/hook"), False),
        ("callback_url of 2048 characters", factory(callback_url="https://example.com/" + "a" * 2028), True),
        ("callback_url of 2049 characters", factory(callback_url="https://example.com/" + "a" * 2029), False),
        ("unknown property", factory(seed=42), False),
        ("no model", factory(model=MISSING), False),
        ("unknown model", factory(model="wan2.5-text-to-image"), False),
    ]
    rows += [
        ("n of 1", factory(n=1), n_ok),
        ("n of 4", factory(n=4), n_ok),
        ("n of 0", factory(n=0), False),
        ("n of 5", factory(n=5), False),
        ("n of 2.5", factory(n=2.5), False),
        ("n as a string", factory(n="2"), False),
    ]
    return [pytest.param(body, ok, id=desc) for desc, body, ok in rows]


@pytest.mark.parametrize(("body", "valid"), _cases(wan_body, limit=2, n_ok=True))
def test_wan_request_constraints_hold_at_and_past_each_limit(body: Body, valid: bool) -> None:
    assert request_is_valid(body) is valid
    assert schema_validator("WanImageToImageRequest").is_valid(body) is valid


@pytest.mark.parametrize(("body", "valid"), _cases(qwen_body, limit=3, n_ok=False))
def test_qwen_request_constraints_hold_at_and_past_each_limit(body: Body, valid: bool) -> None:
    assert request_is_valid(body) is valid
    assert schema_validator("QwenImageEditRequest").is_valid(body) is valid


def test_a_body_of_one_model_with_the_other_models_name_is_rejected() -> None:
    assert not request_is_valid(wan_body(model="qwen-image-edit", n=2))
    assert not request_is_valid(qwen_body(model="wan2.5-image-to-image", image_urls=["https://e.com/a"] * 3))


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(task_json(status), id=status)
        for status in ["pending", "processing", "completed", "failed", "cancelled", "queued", "archived_v2"]
    ]
    + [
        pytest.param(task_json("completed", watermark=True, usage={"credits_used": 2, "region": "eu"}), id="extras"),
        pytest.param(task_json("processing", error=None), id="null error"),
        pytest.param(task_json("completed", task_info=None, usage=None, results=None), id="null objects"),
        pytest.param(task_json("pending", object="video.generation.task", type="video"), id="video"),
        pytest.param({"id": "t", "status": "pending"}, id="minimal"),
    ],
)
def test_open_task_bodies_conform_to_the_task_schema(body: Body) -> None:
    schema_validator("Task").validate(body)


@pytest.mark.parametrize(
    ("body", "valid"),
    [
        pytest.param(task_json("processing", progress=100), True, id="progress 100"),
        pytest.param(task_json("processing", progress=101), False, id="progress 101"),
        pytest.param(task_json("processing", progress=-1), False, id="progress -1"),
        pytest.param(task_json("pending", id=MISSING), False, id="no id"),
        pytest.param(task_json("pending", status=MISSING), False, id="no status"),
        pytest.param(task_json("pending", status=7), False, id="numeric status"),
        pytest.param(task_json("completed", results="https://x"), False, id="results as a string"),
    ],
)
def test_the_task_schema_still_rejects_what_is_wrong(body: Body, valid: bool) -> None:
    assert schema_validator("Task").is_valid(body) is valid


@pytest.mark.parametrize(
    ("body", "valid"),
    [
        pytest.param(error_json("invalid_request"), True, id="string code"),
        pytest.param(error_json(400), True, id="integer code"),
        pytest.param(
            error_json("rate_limit_exceeded", fallback_suggestion="retry", request_id="r1"), True, id="extras"
        ),
        pytest.param({"error": {"code": 4.5, "message": "m"}}, False, id="fractional code"),
        pytest.param({"message": "no error member"}, False, id="no error member"),
    ],
)
def test_the_error_schema_accepts_both_code_shapes_and_extra_members(body: Body, valid: bool) -> None:
    assert schema_validator("ErrorResponse").is_valid(body) is valid


FILE_PATHS = [
    "/api/v1/files/upload/stream",
    "/api/v1/files/upload/base64",
    "/api/v1/files/upload/url",
    "/api/v1/files/quota",
]


@pytest.mark.parametrize("path", FILE_PATHS)
def test_the_files_operations_live_on_the_file_host_and_the_others_on_the_api(path: str) -> None:
    spec = load_spec()
    assert spec["paths"][path]["servers"][0]["url"] == "https://files-api.evolink.ai"
    assert spec["servers"][0]["url"] == "https://api.evolink.ai"
    assert all("servers" not in spec["paths"][p] for p in ("/v1/images/generations", "/v1/tasks/{task_id}"))


def test_the_upload_examples_validate_and_success_false_is_a_valid_envelope() -> None:
    media = resolve_pointer(load_spec(), "#/components/responses/FileUploaded")["content"]["application/json"]
    examples = {name: example["value"] for name, example in media["examples"].items()}
    assert set(examples) == {"stored", "refused"}
    for body in examples.values():
        schema_validator("FileUploadResponse").validate(body)
    assert examples["refused"]["success"] is False


@pytest.mark.parametrize(
    ("body", "valid"),
    [
        ({"success": True, "code": 200, "data": {"file_url": "https://f/x.png", "mime_type": "image/avif"}}, True),
        ({"success": True, "code": "OK", "data": {"file_url": "https://f/x.png", "new_member": [1]}}, True),
        ({"success": False, "code": 49999, "msg": "a code nobody documented", "data": None}, True),
        ({"success": True, "data": {"file_id": "f1"}}, False),  # no file_url: nothing to send
        ({"code": 200, "data": {"file_url": "https://f/x.png"}}, False),  # no success flag
        ({"success": "yes", "data": None}, False),
    ],
)
def test_the_upload_envelope_is_open_where_the_vendor_may_extend_it(body: Body, valid: bool) -> None:
    assert schema_validator("FileUploadResponse").is_valid(body) is valid


def test_the_quota_example_validates_and_the_quota_is_open() -> None:
    example = load_spec()["paths"]["/api/v1/files/quota"]["get"]["responses"]["200"]["content"]["application/json"]
    schema_validator("FileQuotaResponse").validate(example["example"])
    body: Body = {"success": True, "code": 200, "data": {"max_files": 100, "tier_note": "new member"}}
    assert schema_validator("FileQuotaResponse").is_valid(body)
    assert not schema_validator("FileQuotaResponse").is_valid({"success": True, "data": {"used_files": -1}})


def test_the_stream_upload_takes_one_binary_file_and_both_spellings_of_its_options() -> None:
    schema = load_spec()["components"]["schemas"]["FileStreamUpload"]
    assert schema["required"] == ["file"]
    assert schema["properties"]["file"] == {**schema["properties"]["file"], "type": "string", "format": "binary"}
    assert {"upload_path", "uploadPath", "file_name", "fileName"} <= set(schema["properties"])
