"""Teach a pretrained network your own classes from a folder of images.

    python examples/finetune_folder.py FOLDER --model transfer_cnn:digits0-4
    python examples/finetune_folder.py FOLDER --onnx resnet18.onnx --crop 0.875 --fine-tune-epochs 2
    python examples/finetune_folder.py FOLDER --model mnist_cnn:mnist --predict my_picture.png

FOLDER holds a subfolder of images per class (FOLDER/cat/*.jpg, FOLDER/dog/*.png: the
classes are the subfolders' names), read with ``minicnn.data.ImageFolder``. The network
is a ``minicnn.models`` function with shipped weights (--model NAME:WEIGHTS, see
``minicnn.models.list_weights()``) or an ONNX file (--onnx, e.g. torchvision's pretrained
VGG16 or ResNet-18 exported as docs/transfer.md shows). Then, Keras's recipe:

1. **Cut the head**: the body is the network up to its last Flatten or global average
   pooling (--cut N: the first N layers), whose output is one feature vector per image.
2. **Freeze the body and extract the features once**: the folder's images are decoded
   and run through the frozen body once (``body.predict(folder)``, a batch at a time);
   the training images' features and the validation images' are kept.
3. **Train a new head on the stored features**: Dense(features -> classes) (with
   --hidden H: Dense-ReLU-Dense), Adam at --lr, --epochs epochs. Each epoch costs only
   the head's arithmetic: the body never runs again.
4. **Fine-tune the top block** (optional, --fine-tune-epochs E): the body's last
   --unfreeze layers with weights (a convolution, a Residual or Concat block) are
   trained together with the head on the images, at the small rate --fine-tune-lr;
   BatchNorm layers stay frozen (Keras's advice: a few images would wreck their
   statistics). The body runs every step now.
5. **Save** model.npz (``Sequential.load`` reads it) and classes.json (the class names and
   how to read an image) into --out, and **predict** one image (--predict, default the
   first validation image): its top classes by name, with probabilities.

The validation images (--val, a fraction of each class, drawn with --seed) are never
trained on; their accuracy is what the run prints and returns. A zoo network reads the
images as its weights' record says (its channels and size; no normalisation); an ONNX
network at --size (default 224) with --normalize (default imagenet, torchvision's).
"""
import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import minicnn as mc  # noqa: E402
from minicnn import layers as L  # noqa: E402

from examples._common import write_json  # noqa: E402

#: Layers after which a network's output is one feature vector per image.
FLAT = (L.Flatten, L.GlobalAvgPool2D)


def load_network(args, parser):
    """``(network, how to read images)`` from --model NAME:WEIGHTS or --onnx FILE."""
    if args.onnx:
        import minicnn.onnx
        network = minicnn.onnx.load(args.onnx)
        first = next(layer for layer in leaves(network) if isinstance(layer, (L.Conv2D, L.Dense)))
        channels = first.params["W"].shape[1]
        size = args.size or (224, 224)
        normalize = "imagenet" if args.normalize is None else args.normalize
        return network, dict(size=size, channels=channels, crop=args.crop, normalize=normalize)
    name, _, weights = args.model.partition(":")
    records = {(r["model"], r["name"]): r for r in mc.models.list_weights()}
    if (name, weights) not in records:
        parser.error(f"--model {args.model}: no such shipped weights; the shipped: "
                     + ", ".join(f"{m}:{w}" for m, w in records))
    record = records[name, weights]
    network = mc.models.MODELS[name](weights=weights)
    channels, *size = record["input_shape"]
    return network, dict(size=args.size or tuple(size), channels=channels, crop=args.crop,
                         normalize=None if args.normalize in (None, "none") else args.normalize)


def leaves(layers):
    for layer in layers:
        yield layer
        yield from leaves(layer.sublayers())


def cut(network, at=None):
    """The body: the first ``at`` layers, or the layers up to the last Flatten or global pooling."""
    if at is None:
        flat = [i for i, layer in enumerate(network) if isinstance(layer, FLAT)]
        if not flat:
            raise ValueError("the network has no Flatten or global average pooling to cut at: give --cut N")
        at = flat[-1] + 1
    if not 0 < at < len(network):
        raise ValueError(f"--cut must be between 1 and {len(network) - 1} (the network has {len(network)} layers)")
    return network[:at]


def top_block(body, unfreeze):
    """The index in ``body`` from which its last ``unfreeze`` layers with weights (BatchNorm not
    counted) start: the part fine-tuning trains."""
    weighted = [i for i, layer in enumerate(body) if layer.parameters() and not isinstance(layer, L.BatchNorm)]
    return weighted[-unfreeze] if unfreeze <= len(weighted) else 0


def new_head(features, classes, hidden):
    if hidden:
        return [L.Dense(features, hidden), L.ReLU(), L.Dense(hidden, classes)]
    return [L.Dense(features, classes)]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder", help="a folder with one subfolder of images per class")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--model", help="a minicnn.models function with shipped weights, NAME:WEIGHTS "
                                        "(e.g. transfer_cnn:digits0-4)")
    source.add_argument("--onnx", help="an ONNX file of a network (e.g. torchvision's ResNet-18, see docs/transfer.md)")
    parser.add_argument("--size", type=int, nargs=2, metavar=("H", "W"),
                        help="image size (default: the weights' input, or 224 x 224 for an ONNX network)")
    parser.add_argument("--crop", type=float, help="centre crop fraction, e.g. 0.875 (default: none, stretch)")
    parser.add_argument("--normalize", choices=["none", *mc.data.NORMALIZATIONS],
                        help="default: imagenet for an ONNX network, none for a zoo network")
    parser.add_argument("--cut", type=int, help="keep the first N layers as the body (default: up to the last "
                                                "Flatten or global average pooling)")
    parser.add_argument("--hidden", type=int, default=0, help="a hidden Dense layer of this width in the head")
    parser.add_argument("--epochs", type=int, default=30, help="epochs of the head on the features (30)")
    parser.add_argument("--lr", type=float, default=1e-3, help="the head's Adam learning rate (0.001)")
    parser.add_argument("--fine-tune-epochs", type=int, default=0, help="then fine-tune the top block (default 0)")
    parser.add_argument("--fine-tune-lr", type=float, default=1e-4, help="Adam's rate when fine-tuning (0.0001)")
    parser.add_argument("--unfreeze", type=int, default=1, help="layers with weights fine-tuned, from the top (1)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--val", type=float, default=0.2, help="fraction of each class put aside (0.2)")
    parser.add_argument("--predict", help="an image to classify at the end (default: the first validation image)")
    parser.add_argument("--top", type=int, default=3, help="classes shown for --predict (3)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=os.path.join("runs", "finetune-folder"))
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    progress = not args.no_progress

    network, reading = load_network(args, parser)
    folder = mc.data.ImageFolder(args.folder, **reading)
    train, val = folder.split(args.val, seed=args.seed)
    print(f"{folder}: {len(train)} to train on, {len(val)} to validate; classes {', '.join(folder.classes)}")
    try:
        body = cut(network, args.cut)
    except ValueError as exc:
        parser.error(str(exc))
    body.trainable = False                         # 2. frozen: its BatchNorm uses its running statistics
    start = time.perf_counter()
    features, val_features = body.predict(train, batch_size=64), body.predict(val, batch_size=64)
    extract = time.perf_counter() - start
    print(f"body: {len(body)} layers, {body.num_params():,} parameters, {features.shape[1]:,} features an image "
          f"({len(folder)} images decoded and run once: {extract:.1f} s)")

    mc.manual_seed(args.seed)                      # 3. a new head on the stored features
    head = mc.Sequential(new_head(features.shape[1], len(folder.classes), args.hidden))
    loss = mc.losses.CrossEntropy()
    start = time.perf_counter()
    head.fit(features, train.labels, loss, mc.optim.Adam(head.parameters(), lr=args.lr), epochs=args.epochs,
             batch_size=args.batch_size, validation_data=(val_features, val.labels), progress=progress)
    accuracy = head.evaluate(val_features, val.labels, loss)["accuracy"]
    print(f"new head trained on the features: validation accuracy {accuracy:.2%} ({time.perf_counter() - start:.1f} s)")
    model = mc.Sequential([*body, *head])
    result = {"classes": folder.classes, "train_images": len(train), "val_images": len(val),
              "features": int(features.shape[1]), "head_accuracy": accuracy, "extract_seconds": extract}

    if args.fine_tune_epochs:                      # 4. the top block and the head, on the images
        first = top_block(body, args.unfreeze)
        body[first:].trainable = True
        for layer in leaves(body[first:]):
            if isinstance(layer, L.BatchNorm):         # also those inside a Residual or Concat block
                layer.trainable = False
        tuned = [p for p in model.parameters() if p.requires_grad]
        start = time.perf_counter()
        model.fit(train, None, loss, mc.optim.Adam(tuned, lr=args.fine_tune_lr), epochs=args.fine_tune_epochs,
                  batch_size=args.batch_size, validation_data=(val, None), progress=progress)
        accuracy = model.evaluate(val, None, loss)["accuracy"]
        print(f"fine-tuned from layer {first} of the body on: validation accuracy {accuracy:.2%} "
              f"({time.perf_counter() - start:.1f} s)")
        result["fine_tuned_accuracy"] = accuracy
    result["accuracy"] = accuracy

    os.makedirs(args.out, exist_ok=True)           # 5. save, and predict one image
    model.save(os.path.join(args.out, "model.npz"))
    write_json(os.path.join(args.out, "classes.json"), {"classes": folder.classes, **{
        k: list(v) if isinstance(v, tuple) else v for k, v in reading.items()}})
    path = args.predict or val.samples[0][0]
    probabilities = mc.functional.softmax(model.predict(folder.load(path)[None]), axis=1)[0]
    top = np.argsort(probabilities)[::-1][:args.top]
    result["prediction"] = [(folder.classes[k], float(probabilities[k])) for k in top]
    print(f"{path}: " + ", ".join(f"{folder.classes[k]} {probabilities[k]:.1%}" for k in top))
    write_json(os.path.join(args.out, "result.json"), result)
    print(f"wrote model.npz, classes.json and result.json to {args.out}")
    return result


if __name__ == "__main__":
    main()
