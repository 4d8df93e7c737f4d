"""Files users keep: written atomically, read without pickle."""
import ast
import contextlib
import lzma
import math
import os
import re
import struct
import tempfile
import threading
import zipfile
import zlib

import numpy as np

#: CPython 3.11's ast module keeps its recursion depth in shared state, so two threads parsing
#: at once can fail with "AST constructor recursion depth mismatch" (CPython issue 106905):
#: models loaded in several threads parse their .npy headers (ast.literal_eval, here and in
#: NumPy's reader) one at a time.
_AST_LOCK = threading.Lock()

try:
    import fcntl
except ImportError:          # Windows: no locks, so leftover temporaries are not cleaned up
    fcntl = None


@contextlib.contextmanager
def atomic_write(path, mode="wb"):
    """Open a temporary file beside ``path``; on success, rename it onto ``path``.

    The rename is atomic, so ``path`` holds either the old complete file or the
    new complete file, never half of one, whatever happens mid-write. On an
    exception the temporary file is removed and ``path`` is untouched.

    A writer killed outright (SIGKILL, power cut) cannot remove its temporary
    file; the next ``atomic_write`` to the same ``path`` does: it removes every
    ``.<name>.*.tmp`` beside ``path`` that no live writer holds locked (each
    writer keeps an ``flock`` on its temporary file until the rename, and the
    system drops the lock when a process dies), so leftovers never pile up and
    concurrent writers never lose their files.
    """
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    prefix = f".{os.path.basename(path)}."
    _remove_stale_temporaries(folder, prefix)
    fd, tmp = _locked_temporary(folder, prefix)
    try:
        with os.fdopen(fd, mode) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
            os.chmod(tmp, 0o666 & ~_umask())      # mkstemp makes 0600; give the usual permissions
            if fcntl is not None:
                os.replace(tmp, path)             # while still locked, so no one takes it for stale
        if fcntl is None:
            os.replace(tmp, path)                 # Windows cannot rename an open file
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.remove(tmp)
        raise


def _locked_temporary(folder, prefix):
    """``mkstemp`` beside the target, locked (exclusive ``flock``) against stale-file cleanup."""
    while True:
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=prefix, suffix=".tmp")
        if fcntl is None:
            return fd, tmp
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
        except OSError:                    # no locks on this file system: no cleanup either
            return fd, tmp
        if os.fstat(fd).st_nlink:          # not removed as stale between mkstemp and flock
            return fd, tmp
        os.close(fd)


def _remove_stale_temporaries(folder, prefix):
    """Remove the temporary files of writers to the same target that died mid-write."""
    if fcntl is None:
        return
    pattern = re.compile(re.escape(prefix) + r"[a-z0-9_]+\.tmp")
    try:
        names = [e.name for e in os.scandir(folder) if pattern.fullmatch(e.name)]
    except OSError:
        return
    for name in names:
        stale = os.path.join(folder, name)
        with contextlib.suppress(OSError):
            fd = os.open(stale, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)     # fails while its writer lives
                if os.path.samestat(os.fstat(fd), os.stat(stale, follow_symlinks=False)):
                    os.remove(stale)
            finally:
                os.close(fd)


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


#: The time stamp of every member of the .npz files minicnn writes (the zip format's earliest date).
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)


def save_npz(path, arrays):
    """Write ``{name: array}`` to an .npz file at exactly ``path``, atomically.

    The file is what ``np.savez`` writes (``np.load`` reads it), except that every
    member carries the same fixed time stamp instead of the current time: the same
    arrays give the same bytes, so a file's SHA-256 names its content (the shipped
    weights are checked by it, and a rerun of their recipe gives the same hash)."""
    with atomic_write(path) as f, zipfile.ZipFile(f, "w", zipfile.ZIP_STORED) as archive:
        for key, value in arrays.items():
            info = zipfile.ZipInfo(key + ".npy", date_time=_ZIP_DATE)
            info.external_attr = 0o600 << 16                # as np.savez's members
            with archive.open(info, "w", force_zip64=True) as member:
                np.lib.format.write_array(member, np.asanyarray(value), allow_pickle=False)


#: What a file starts with, for files that are not .npz archives (the error says which it is).
_MAGIC = ((b"\x93NUMPY", "it holds a single NumPy array (.npy), not an .npz archive of named arrays"),
          (b"\x80", "it is a Python pickle, which minicnn never loads (unpickling can run any code)"),
          (b"\x1f\x8b", "it is gzip-compressed data, not an .npz archive"),
          (b"\x89PNG", "it is a PNG image"))
_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")       # a zip archive (.npz is one), or an empty one
# What a damaged zip raises: zipfile a bad CRC, a bad header, or flags a damaged header may
# set (encrypted, an unknown method); zlib and lzma a corrupt compressed member.
_DAMAGED = (OSError, zipfile.BadZipFile, EOFError, RuntimeError, NotImplementedError,
            zlib.error, lzma.LZMAError, struct.error)


class _Npz:
    """An open .npz archive: ``headers`` ``{key: (shape, dtype)}``, read before any data,
    and ``read(key)`` for one array. Made by :func:`open_npz`."""

    def __init__(self, archive, headers, refuse):
        self._archive, self.headers, self._refuse = archive, headers, refuse

    def read(self, key):
        try:
            with self._archive.open(key + ".npy") as member, _AST_LOCK:     # NumPy parses the header too
                return np.lib.format.read_array(member, allow_pickle=False)
        except _DAMAGED as exc:             # the zip or compression layer: its error is the cause
            raise self._refuse(f"its member {key!r} is damaged ({type(exc).__name__}: {exc})") from exc
        except ValueError:                  # NumPy's reader, whose texts are not for users
            raise self._refuse(f"its member {key!r} is not a valid .npy array") from None


@contextlib.contextmanager
def open_npz(path, what="an .npz archive of arrays"):
    """Open the .npz file at ``path`` for reading, never unpickling anything.

    Yields an object with ``headers`` (``{key: (shape, dtype)}``, from the .npy
    headers alone, so that a caller can check shapes before any data is
    allocated) and ``read(key)``. ``FileNotFoundError`` for a missing file; a
    ``ValueError`` that names the file, says it is not ``what`` and why (another
    format, a damaged archive, a member of Python objects, or one that claims
    more data than it holds) for anything else.
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"no such file: {path}")

    def refuse(reason):
        return ValueError(f"{path} is not {what}: {reason}")

    if os.path.isdir(path):
        raise refuse("it is a folder")
    with open(path, "rb") as f:
        start = f.read(8)
        if not start.startswith(_ZIP_MAGIC):
            reason = next((r for magic, r in _MAGIC if start.startswith(magic)),
                          "it is empty" if not start else "its content is not an .npz (zip) archive")
            raise refuse(reason)
        f.seek(0)
        try:
            archive = zipfile.ZipFile(f)
        except (ValueError, *_DAMAGED) as exc:
            raise refuse(f"it is a damaged zip archive ({type(exc).__name__}: {exc})") from exc
        with archive:
            try:
                headers = _read_headers(archive, os.fstat(f.fileno()).st_size, refuse)
            except _DAMAGED as exc:
                raise refuse(f"it is a damaged zip archive ({type(exc).__name__}: {exc})") from exc
            yield _Npz(archive, headers, refuse)


def _read_headers(archive, file_size, refuse):
    """``{key: (shape, dtype)}`` of every member, from the .npy headers only.

    Refuses members that are not .npy arrays, arrays of Python objects (they
    would need pickle), damaged headers, and members whose header declares more
    data than they hold (a damaged or crafted shape could ask for terabytes) or
    less."""
    headers = {}
    for info in archive.infolist():
        if not info.filename.endswith(".npy"):
            raise refuse(f"it holds {info.filename!r}, which is not a .npy array")
        key = info.filename[:-4]
        # deflate expands at most ~1032 times: sizes beyond that are lies of the zip directory
        if info.compress_size > file_size or info.file_size > 1100 * max(info.compress_size, 1) or (
                info.compress_type == zipfile.ZIP_STORED and info.file_size != info.compress_size):
            raise refuse(f"its member {key!r} has impossible sizes in the zip directory")
        with archive.open(info) as member:
            try:
                shape, dtype = _read_npy_header(member)
            except (ValueError, EOFError, struct.error) as exc:
                # in minicnn's words only: NumPy's header texts are not for users
                raise refuse(f"its member {key!r} is not a valid .npy array: {exc}") from None
            declared = dtype.itemsize * math.prod(shape)
            held = info.file_size - member.tell()
        if dtype.hasobject:
            raise refuse(f"its member {key!r} holds Python objects (dtype {dtype}), which minicnn never "
                         "loads (that would need pickle)")
        # exactly: np.save writes nothing after the data, so a header whose shape or dtype
        # was damaged into a smaller array (NumPy would read it and ignore the rest) is refused
        if declared != held:
            raise refuse(f"its member {key!r} declares shape {_short(shape)} of {dtype} ({declared} bytes) "
                         f"but holds {held} bytes")
        headers[key] = (tuple(shape), dtype)
    return headers


_NPY_VERSIONS = {b"\x01\x00": "<H", b"\x02\x00": "<I"}     # version: its header length's format
_NPY_MAX_HEADER = 10000                                     # NumPy's own limit (_MAX_HEADER_SIZE)


def _read_npy_header(member):
    """``(shape, dtype)`` from the .npy header at the start of ``member``, leaving the
    file at the first byte of data; ValueError (our words, no cause) for any damage.

    The header is the text of a Python dict, ``{'descr': '<f4', 'fortran_order':
    False, 'shape': (3, 4), }``. minicnn reads it itself rather than with NumPy's
    ``read_array_header_*``: for a header ``ast.literal_eval`` cannot parse, NumPy
    retries through ``tokenize`` (for files written by Python 2), whose errors
    (``TokenError``, ``IndentationError``) and warnings escape any list of the ones to
    expect. Here a header either parses as a literal or the member is refused; NumPy's
    reader then sees the same header and parses it on its first try.
    """
    magic = member.read(8)
    if len(magic) < 8 or magic[:6] != b"\x93NUMPY":
        raise ValueError("it does not start with the .npy signature")
    if magic[6:] not in _NPY_VERSIONS:
        raise ValueError(f".npy format version {magic[6]}.{magic[7]} (minicnn reads 1.0 and 2.0)")
    size_format = _NPY_VERSIONS[magic[6:]]
    length = struct.unpack(size_format, member.read(struct.calcsize(size_format)))[0]
    if length > _NPY_MAX_HEADER:
        raise ValueError(f"its header claims {length} bytes (at most {_NPY_MAX_HEADER})")
    text = member.read(length)
    if len(text) < length:
        raise ValueError("it ends inside its header")
    try:
        with _AST_LOCK:
            header = ast.literal_eval(text.decode("latin1"))
    except (SyntaxError, ValueError, TypeError, MemoryError, RecursionError):
        raise ValueError("its header is damaged (not the text of a Python dict)") from None
    if not isinstance(header, dict) or set(header) != {"descr", "fortran_order", "shape"}:
        raise ValueError("its header is damaged (not a dict of descr, fortran_order and shape)")
    shape, descr = header["shape"], header["descr"]
    if not isinstance(shape, tuple) or not all(type(n) is int and n >= 0 for n in shape):
        raise ValueError(f"its header's shape {_short(shape)} is not a tuple of sizes")
    if not isinstance(header["fortran_order"], bool):
        raise ValueError("its header's fortran_order is not True or False")
    try:
        # a dtype's text, such as '<f4' ('|O' for Python objects is refused by the caller)
        dtype = np.dtype(descr) if isinstance(descr, str) else None
    except (TypeError, ValueError, SyntaxError, OverflowError):
        dtype = None
    if dtype is None:
        raise ValueError(f"its header's descr {_short(descr)} is not a dtype minicnn reads")
    return shape, dtype


def _short(value, limit=60):
    """``repr(value)``, cut to ``limit`` characters (a damaged header can hold 10,000)."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def load_npz(path, what="an .npz archive of arrays"):
    """Read every array of an .npz file into a dict, never unpickling anything.

    Raises ``FileNotFoundError`` for a missing file and ``ValueError`` naming
    the file for anything that is not a valid .npz of plain arrays (truncated,
    corrupt, another format, object arrays); see :func:`open_npz`.
    """
    with open_npz(path, what) as npz:
        return {key: npz.read(key) for key in npz.headers}
