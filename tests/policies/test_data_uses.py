"""`policies.data_uses`: the fideslang data-use taxonomy and how the config refuses others."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from policies.data_uses import DATA_USES, unknown_data_use
from policies.models import Config
from tests.consent.sample import raw


def test_the_taxonomy_is_fideslangs() -> None:
    assert len(DATA_USES) == 56
    assert {
        "analytics.reporting",
        "essential.service",
        "marketing.advertising.third_party.targeted",
        "personalize.content",
        "third_party_sharing",
    } <= DATA_USES
    # Every key's parent is a key too: the file is a tree, not a list of typos.
    assert all(k.rsplit(".", 1)[0] in DATA_USES for k in DATA_USES if "." in k)


@pytest.mark.parametrize(
    ("key", "message"),
    [
        ("analytics.reporting", None),
        (
            "analytics.reportng",
            "'analytics.reportng' is not a data use of the fideslang taxonomy; "
            "did you mean 'analytics.reporting' or 'analytics.reporting.system'?",
        ),
        (
            "personalise.content",
            "'personalise.content' is not a data use of the fideslang taxonomy; "
            "did you mean 'personalize.content' or 'personalize.content.limited'?",
        ),
        (
            # Fides' custom keys below a default one are not supported: the nearest are named.
            "essential.service.checkout",
            "'essential.service.checkout' is not a data use of the fideslang taxonomy; "
            "did you mean 'essential.service.security' or 'essential.service'?",
        ),
        ("ads", "'ads' is not a data use of the fideslang taxonomy"),
    ],
)
def test_unknown_data_use(key: str, message: str | None) -> None:
    assert unknown_data_use(key) == message


def test_the_config_refuses_an_unknown_data_use_at_its_item() -> None:
    data = raw()
    data["purposes"][1]["data_uses"] = ["analytics.reporting", "analytics.reportng"]
    data["policy"]["gpc_data_uses"] = ["third_party_sharing", "marketing.advertisng"]
    with pytest.raises(ValidationError) as caught:
        Config.model_validate(data)
    where = {e["loc"]: e["msg"] for e in caught.value.errors()}
    assert "did you mean 'analytics.reporting'" in where[("purposes", 1, "data_uses", 1)]
    assert "did you mean 'marketing.advertising'" in where[("policy", "gpc_data_uses", 1)]
