"""python -m minicnn.exercises {new DIR, check FILE [--only NAME], train DIR [--quick]}."""
import argparse
import sys
import tempfile

from .catalog import EXERCISES, signature
from .checker import check_file
from .glue import train as run
from .glue import write_skeletons


def _needs_hypothesis():
    """A sentence when Hypothesis is missing (the checker's property test runs on it), else None."""
    try:
        import hypothesis  # noqa: F401
    except ImportError:
        return 'the checker needs Hypothesis: pip install "minicnn[exercises]" (or pip install hypothesis)'
    return None


def main(argv=None):
    order = "\n".join(f"  {e.file:34s} {signature(e)}" for e in EXERCISES)
    parser = argparse.ArgumentParser(
        prog="python -m minicnn.exercises", formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Write a CNN's layers yourself, check them, then train MNIST with them.",
        epilog=f"The exercises, in learning order:\n{order}")
    commands = parser.add_subparsers(dest="command", required=True)
    new = commands.add_parser("new", help="write the skeletons into DIR (never over a file that is there)")
    new.add_argument("dir")
    check = commands.add_parser("check", help="check the exercises FILE defines; exit 0 when all that are "
                                              "done pass")
    check.add_argument("file")
    check.add_argument("--only", metavar="NAME", help="check only the exercise NAME")
    train = commands.add_parser("train", help="train the MNIST CNN with your functions from DIR")
    train.add_argument("dir")
    train.add_argument("--quick", action="store_true",
                       help="a smaller CNN, one epoch on 5,000 training images (for answers written with loops)")
    train.add_argument("--data-dir", help="folder holding the four MNIST files (default: search, as load_mnist)")
    train.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    if args.command == "new":
        return 0 if write_skeletons(args.dir) else 1
    missing = _needs_hypothesis()
    if missing:
        print(missing)
        return 2
    # Hypothesis keeps a cache in ./.hypothesis: a learner's folder is left as it was
    from hypothesis.configuration import set_hypothesis_home_dir
    with tempfile.TemporaryDirectory(prefix="minicnn-hypothesis-") as home:
        set_hypothesis_home_dir(home)
        try:
            if args.command == "check":
                return check_file(args.file, only=args.only)[0]
            return 0 if run(args.dir, quick=args.quick, data_dir=args.data_dir, seed=args.seed) is not None else 1
        finally:
            set_hypothesis_home_dir(None)            # Hypothesis's default again


if __name__ == "__main__":
    sys.exit(main())
