"""Runs one pytest file under `bazel test`, writing the JUnit XML Bazel collects."""
import os
import sys

import pytest

if __name__ == '__main__':
  args = ['-q', '-p', 'no:cacheprovider', *sys.argv[1:]]
  if os.environ.get('XML_OUTPUT_FILE'):
    args.append(f'--junitxml={os.environ["XML_OUTPUT_FILE"]}')
  sys.exit(pytest.main(args))
