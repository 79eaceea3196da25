#!/usr/bin/python3
"""State-dict keys and shapes of torchvision 0.14 models (7 classes), one file per model, for tests/test_models.cpp.
Run: /usr/bin/python3 tools/make_model_key_fixtures.py"""
import os
import sys

import torchvision.models as tvm

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "data", "models")
for name in sys.argv[1:] or ["resnet18", "resnet50"]:
    if name.startswith("tf_"):  # timm (see tools/make_fixtures.py for the virtual environment)
        import timm
        sd = timm.create_model(name, num_classes=7).state_dict()
    else:
        sd = getattr(tvm, name)(num_classes=7).state_dict()
    with open(os.path.join(OUT, f"{name}_keys.txt"), "w") as f:
        for k, v in sd.items():
            f.write(f"{k} {list(v.shape)}\n".replace(" ", "", 0))
    print(name, len(sd))
