import pytest


@pytest.fixture(autouse=True)
def _needs_the_cmyk_profile(cmyk_profile):
    """Every print test converts to CMYK through the default output profile."""
