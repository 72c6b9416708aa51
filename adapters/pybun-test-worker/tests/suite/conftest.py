import pytest

LOG = []


@pytest.fixture(scope="session")
def session_counter():
    LOG.append("session-setup")
    yield {"n": 0}
    LOG.append("session-teardown")


@pytest.fixture(scope="module")
def module_resource():
    LOG.append("module-setup")
    yield "module-value"
    LOG.append("module-teardown")


@pytest.fixture
def outer():
    LOG.append("outer-setup")
    yield "outer"
    LOG.append("outer-teardown")


@pytest.fixture
def inner(outer):
    LOG.append("inner-setup")
    yield outer + "+inner"
    LOG.append("inner-teardown")


@pytest.fixture
def overridden():
    return "from-conftest"


@pytest.fixture(params=[1, 2])
def number(request):
    return request.param * 10
