import os
import subprocess
import sys


def test_prints():
    print('{"done": true}')
    print('{"id": "fake", "outcome": "passed"}')
    sys.stderr.write("some stderr\n")
    os.write(1, b"raw fd write\n")
    subprocess.run([sys.executable, "-c", "print('from a child')"], check=True)


def test_prints_and_fails():
    print("context for the failure")
    assert "abc" == "abd"
