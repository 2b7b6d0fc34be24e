"""Builds a .cu with an extern "C" API into a shared library with nvcc on first use and loads it with ctypes.

Why not a torch C++ extension: the GPU machine's torch (2.x) is not the build machine's (1.13), so nothing is
built against torch's C++ ABI. The libraries take raw pointers, sizes, strides and a cudaStream_t; their Python
wrappers allocate every buffer with torch (the caching allocator and CUDA-graph capture keep working).
Libraries are cached per (source, the local headers it includes, nvcc command, GPU architecture) in
~/.cache/nalasr_cuda_ext or $NALASR_CUDA_EXT_CACHE; a library is written under a temporary name and renamed,
so concurrent builders never load a half-written file. Shared headers: cuda_ext.cuh.
"""
import ctypes
import hashlib
import os
import pathlib
import re
import shutil
import subprocess
import tempfile

import torch

# Element type codes of cuda_ext.cuh (DT_*).
DTYPES = {torch.float32: 0, torch.float64: 1, torch.bfloat16: 2, torch.float16: 3}


def nvcc_path():
    cuda_home = os.environ.get("CUDA_HOME") or os.environ.get("CUDA_PATH") or "/usr/local/cuda"
    return os.environ.get("NALASR_NVCC") or shutil.which("nvcc") or os.path.join(cuda_home, "bin", "nvcc")


def cache_dir():
    return pathlib.Path(os.environ.get("NALASR_CUDA_EXT_CACHE") or pathlib.Path.home() / ".cache" / "nalasr_cuda_ext")


def nvcc_command(capability, source, output, defines):
    """defines: {macro: value} passed as -D flags (the .cu's #ifndef compile-time constants)."""
    arch = f"{capability[0]}{capability[1]}"
    return ([nvcc_path(), "-O3", "-std=c++17", "-shared", "-Xcompiler", "-fPIC",
             "-gencode", f"arch=compute_{arch},code=sm_{arch}"]
            + [f"-D{name}={value}" for name, value in sorted(defines.items())]
            + [str(source), "-o", str(output)])


def ptxas_build(capability, source, defines, inspect=None):
    """Compiles source with ptxas -v into a throw-away library (the CPU checks' warning and register audit)
    -> (nvcc's return code, its stderr, the lines that mention a warning); inspect(library path), if given, runs
    on a successful build before the library is deleted."""
    with tempfile.TemporaryDirectory() as tmp:
        library = os.path.join(tmp, "lib.so")
        res = subprocess.run(nvcc_command(capability, source, library, defines) + ["-Xptxas", "-v"],
                             capture_output=True, text=True)
        if res.returncode == 0 and inspect:
            inspect(library)
    return res.returncode, res.stderr, [line for line in res.stderr.splitlines() if "warning" in line.lower()]


def ptxas_usage(log, name_of):
    """'NAME: R registers, S B spill' for each kernel of a ptxas -v log that name_of(its "Compiling entry
    function" line) names (None: left out)."""
    rows, name, spill = [], None, None
    for line in log.splitlines():
        if "Compiling entry function" in line:
            name = name_of(line)
        elif name and "spill stores" in line:
            spill = re.search(r"(\d+) bytes spill stores", line).group(1)
        elif name and "Used" in line:
            regs = re.search(r"Used (\d+) registers", line).group(1)
            rows.append(f"{name}: {regs} registers, {spill} B spill")
            name = None
    return rows


def local_headers(source):
    """The files a source #includes by a quoted path, recursively (their text is part of the cache key)."""
    seen, todo = [], [pathlib.Path(source)]
    while todo:
        path = todo.pop()
        for name in re.findall(r'^\s*#include\s+"([^"]+)"', path.read_text(), re.M):
            header = (path.parent / name).resolve()
            if header not in seen:
                seen.append(header)
                todo.append(header)
    return seen


def library_path(source, capability, defines):
    """Where the library for this source (and headers), these flags and this GPU architecture lives."""
    source = pathlib.Path(source)
    cmd = nvcc_command(capability, "SRC", "OUT", defines)
    digest = hashlib.sha256(source.read_bytes())
    for header in local_headers(source):
        digest.update(header.read_bytes())
    digest.update("\0".join(cmd).encode())
    return cache_dir() / f"{source.stem}_sm{capability[0]}{capability[1]}_{digest.hexdigest()[:20]}.so"


def build(source, capability, defines):
    """Compiles the library unless cached -> its path."""
    path = library_path(source, capability, defines)
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(suffix=".so", dir=path.parent)
    os.close(fd)
    try:
        res = subprocess.run(nvcc_command(capability, source, tmp, defines), capture_output=True, text=True)
        if res.returncode != 0:
            raise RuntimeError(f"nvcc failed ({res.returncode}):\n{res.stderr[-3000:]}")
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


_LIBS = {}


def load(source, device, defines, functions):
    """The library of `source` for `device`'s architecture and these defines, built on first use.

    functions: {name: (argtypes, restype)} set on the loaded library.
    """
    capability = torch.cuda.get_device_capability(device)
    key = (str(source), capability, tuple(sorted(defines.items())))
    if key not in _LIBS:
        lib = ctypes.CDLL(str(build(source, capability, defines)))
        for name, (argtypes, restype) in functions.items():
            getattr(lib, name).argtypes = argtypes
            getattr(lib, name).restype = restype
        _LIBS[key] = lib
    return _LIBS[key]


def struct_fields(source, name):
    """Field names of `typedef struct { ... } name;` in a .cu, in order (for checking a ctypes mirror)."""
    body = re.search(r"typedef struct \{(.*?)\} " + name + ";", pathlib.Path(source).read_text(), re.S).group(1)
    return re.findall(r"(\w+)\s*[,;]", re.sub(r"//[^\n]*", "", body))


def stream_of(t):
    return torch.cuda.current_stream(t.device).cuda_stream
