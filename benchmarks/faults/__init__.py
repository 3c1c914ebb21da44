"""``python -m benchmarks.faults``: training and export beside other programs, side by side, killed and on a full
disk (issue 84, "A robot's computer is never quiet"). Three groups of cases, each a new process timed or checked
from outside:

- ``load`` (:mod:`.load`): ``point2act demo`` idle and beside a load program (busy loops, a torch program, a
  physics simulation), alternated in one run, and ``ns-train point2act`` with its viewer open in a headless
  Chromium; the wall times' median, worst and ratio to the idle median of the same run;
- ``side`` (:mod:`.side`): two ``ns-train point2act`` at once on two captures and on one, and two first-time
  builds of the C++ extensions at once; both finish, their grasps.json equal those of the same run alone, every
  cached file loads;
- ``faults`` (:mod:`.kills`): SIGKILL during training (then resume), during an export and during the run cache's
  write, and a full disk (``RLIMIT_FSIZE``) during training and export: the next command's grasps.json, the
  one-paragraph error, the earlier files intact.

Outcomes are checked here; the tests that assert them in CI are ``tests/test_faults.py``.
"""
