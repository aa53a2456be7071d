"""The actor system's keeper: spawns guild actors on demand, restarts the ones that crash,
passivates idle ones, snapshots them, and admits every event to its guild.

- ``supervisor``: the ``Supervisor`` itself (spawn, deliver, restart, passivate, wake).
- ``admission``: what it admits (ids, shards, readiness) and remembers between actor lives.
- ``records``: its flags, statistics and per-guild handles; the restart rule (OTP-style).
- ``queries``: what operators read and set through it (the control socket's requests).
- ``snapshots``: the batched snapshot writer; ``gcguard``: the collector's pauses bounded.
"""

from runtime.supervisor.records import (
    GuildHandle,
    SupervisorConfig,
    SupervisorStatistics,
    UnknownGuildError,
    restart_allowed,
)
from runtime.supervisor.supervisor import Supervisor

__all__ = [
    "GuildHandle",
    "Supervisor",
    "SupervisorConfig",
    "SupervisorStatistics",
    "UnknownGuildError",
    "restart_allowed",
]
