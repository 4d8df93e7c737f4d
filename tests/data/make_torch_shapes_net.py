"""Write tests/data/torch_shapes_net.onnx: a small ResNet trained in PyTorch, exported with its
BatchNorm layers kept, as docs/transfer.md exports torchvision's VGG16 / ResNet-18 (needs torch;
CI does not run it).

    /path/to/torch/python tests/data/make_torch_shapes_net.py

The network takes (N, 3, 32, 32) RGB images normalised with ImageNet's mean and standard
deviation (``ImageFolder(..., normalize="imagenet")``): a stem (conv 3x3 to 16 channels
without bias, BatchNorm, ReLU, max pool 2), two residual blocks of stride 2 (to 32, then 64
channels; 1x1 stride-2 convolutions with BatchNorm as shortcuts), ``AdaptiveAvgPool2d(1)``,
flatten, Linear(64 -> 3); 72,915 parameters. It is trained for 12 epochs (Adam, lr 0.003)
on 900 pictures of circles, squares and triangles from
``tests/image_folders.shapes`` with seed 100, pictures the tests never use (they draw theirs
with other seeds): a network pretrained elsewhere, whose body examples/finetune_folder.py
reuses for the tests' folders.

The export is the one docs/transfer.md gives, ``torch.onnx.export(model.eval(), ...,
dynamo=False, do_constant_folding=False)``: without constant folding PyTorch's TorchScript
exporter writes every BatchNorm as a BatchNormalization node (in inference mode), where it
would otherwise fold it into the convolution before it, so that minicnn imports BatchNorm
layers that fine-tuning can keep frozen.

Also writes torch_shapes_expected.npz: ``x`` (6, 3, 32, 32) normalised shapes (seed 7) and
``logits``, PyTorch's outputs on them in eval mode; the script checks onnxruntime against them.
"""
import os
import sys
import warnings

import numpy as np
import onnxruntime as ort
import torch
from torch import nn

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
from image_folders import shapes  # noqa: E402
from make_torch_onnx import Block  # noqa: E402  (the residual block of torch_resnet)

MEAN, STD = np.array([0.485, 0.456, 0.406]), np.array([0.229, 0.224, 0.225])


def network():
    return nn.Sequential(nn.Conv2d(3, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2),
                         Block(16, 32, 2), Block(32, 64, 2), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, 3))


def as_input(images):
    """uint8 (N, H, W, 3) -> float32 (N, 3, H, W), [0, 1] then ImageNet's normalisation."""
    x = images.transpose(0, 3, 1, 2) / 255.0
    return ((x - MEAN[:, None, None]) / STD[:, None, None]).astype(np.float32)


def main():
    torch.manual_seed(0)
    images, labels = shapes(900, 32, seed=100)
    x, y = torch.from_numpy(as_input(images)), torch.from_numpy(labels)
    model = network()
    opt = torch.optim.Adam(model.parameters(), lr=0.003)
    for epoch in range(12):
        order = torch.randperm(len(x))
        for start in range(0, len(x), 32):
            idx = order[start:start + 32]
            opt.zero_grad()
            loss = nn.functional.cross_entropy(model(x[idx]), y[idx])
            loss.backward()
            opt.step()
    model.eval()
    test_images, test_labels = shapes(300, 32, seed=101)
    with torch.no_grad():
        accuracy = (model(torch.from_numpy(as_input(test_images))).argmax(1).numpy() == test_labels).mean()
    print(f"trained in PyTorch: {accuracy:.1%} on 300 other shapes")

    path = os.path.join(HERE, "torch_shapes_net.onnx")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")                   # the TorchScript exporter's deprecation notice
        torch.onnx.export(model, torch.zeros(1, 3, 32, 32), path, dynamo=False, do_constant_folding=False,
                          input_names=["input"], output_names=["logits"], dynamic_axes={"input": {0: "batch"}})
    probe = as_input(shapes(6, 32, seed=7)[0])
    with torch.no_grad():
        logits = model(torch.from_numpy(probe)).numpy()
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    np.testing.assert_allclose(session.run(None, {"input": probe})[0], logits, rtol=1e-4, atol=1e-5)
    np.savez(os.path.join(HERE, "torch_shapes_expected.npz"), x=probe, logits=logits)
    print(f"wrote {path} and torch_shapes_expected.npz")


if __name__ == "__main__":
    main()
