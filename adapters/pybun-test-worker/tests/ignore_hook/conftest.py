import re

# boltons' pattern: files for another Python major version are not collected.
_VERSION = re.compile(r"_py(\d)$")


def pytest_ignore_collect(collection_path, config):
    match = _VERSION.search(collection_path.stem)
    if not match:
        return None
    return match.group(1) != "3"
