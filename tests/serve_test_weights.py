"""``python -m tests.serve_test_weights [streamlit options]``: ``app.serve`` with the registry's
``imagenet`` entry taking the file whose sha256 is ``$ALEXNET_TEST_IMAGENET_SHA256`` (the random
torchvision-format state dict of tests/imagenet_fixtures.py) instead of the published checksum.
Only the browser test starts it; the app itself never reads that variable."""

import os

from alexnet import weights
from app import serve

if __name__ == "__main__":
    import dataclasses

    digest = os.environ["ALEXNET_TEST_IMAGENET_SHA256"]
    entry = weights.entries()["imagenet"]
    weights._WEIGHTS["imagenet"] = dataclasses.replace(entry, sha256_prefix=digest[:8])
    serve.main()
