"""Modules a training imports lazily, imported up front (in the forkserver, once).

A walled training process runs as ``nobody`` and may not be able to read the Python
installation any more (e.g. under ``/root/.pyenv``), so everything it will import must
already be in memory when the walls go up. The list is what a PPO and a SAC training
(TorchScript reward, TensorBoard, evaluation) imported after their env was built;
``tests/train/test_walled_training.py`` checks that a walled training still works.
"""

import colorsys  # noqa: F401
import cProfile  # noqa: F401
import decimal  # noqa: F401
import encodings.cp437  # noqa: F401 - zipfile (policy.zip)
import encodings.idna  # noqa: F401
import fractions  # noqa: F401
import getpass  # noqa: F401
import pstats  # noqa: F401
import shlex  # noqa: F401
import statistics  # noqa: F401
import sysconfig  # noqa: F401
import termios  # noqa: F401
import unicodedata  # noqa: F401

import numpy.fft  # noqa: F401
import numpy.ma  # noqa: F401
import torch
import torch._dynamo  # noqa: F401 - torch.optim imports it on the first step
import torch.profiler._cupti_monitor  # noqa: F401
import torch.utils.serialization  # noqa: F401 - torch.save/load (policy files)
import torch.utils.tensorboard  # noqa: F401 - SB3's logger
from stable_baselines3 import PPO, SAC  # noqa: F401
from stable_baselines3.common.vec_env import VecNormalize  # noqa: F401

try:  # the vector backend's simulator (Linux only): ~0.7 s to import, once here instead of in every training
    import envpool  # noqa: F401
except ImportError:
    pass

torch.set_num_threads(1)
